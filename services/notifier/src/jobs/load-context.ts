import { type EventNotifyPayload, previewEnvironment, previewIidOf, UnrecoverableError } from "@hoist/shared";
import type { NotifyContext } from "../domain/context.js";
import type { NotifierDeps } from "./deps.js";

type Loaded = { ctx: NotifyContext } | { skip: string };

/**
 * Loads the records a notify job is about. A missing build or release is permanent (the job
 * names something that does not exist); a deleted app means there is nobody to tell.
 */
export async function loadContext(
  deps: NotifierDeps,
  payload: EventNotifyPayload,
  opts: { releaseOfBuild?: boolean } = {},
): Promise<Loaded> {
  if (payload.event.startsWith("release.") && !payload.releaseId) {
    throw new UnrecoverableError(`${payload.event} needs a releaseId in the job`);
  }
  // One round trip for the build, a named release and the app when the job names it (jobs stored
  // before it did: the app is read after the build that names it).
  const first = await deps.records.readTogether({
    build: payload.buildId,
    ...(payload.releaseId ? { release: payload.releaseId } : {}),
    ...(payload.app ? { app: payload.app } : {}),
  });
  const { build, release: named } = first;
  if (!build) throw new UnrecoverableError(`build ${payload.buildId} not found: nothing to notify about`);
  if (payload.releaseId && !named) throw new UnrecoverableError(`release ${payload.releaseId} not found: nothing to notify about`);
  const ofBuild = !payload.releaseId && opts.releaseOfBuild && build.releaseId ? build.releaseId : undefined;
  const [app, release] = await Promise.all([
    first.app && first.app.name === build.app ? first.app : deps.records.apps.get(build.app),
    ofBuild ? deps.records.releases.get(ofBuild) : named,
  ]);
  if (!app) return { skip: `skipped: app ${build.app} no longer exists` };
  // A preview's release, or a merge request's build without one: its URL as the deployer recorded it
  // (it knows Caddy's listener); none once its environment is gone (torn down).
  const iid = release ? previewIidOf(release.environment) : build.preview?.iid;
  let preview: NotifyContext["preview"];
  if (iid !== undefined) {
    const [env, record] = await Promise.all([
      deps.records.environments.get(app, release?.environment ?? previewEnvironment(iid)),
      deps.records.previews.get(app.name, iid),
    ]);
    const url = env ? record?.url : undefined;
    preview = { iid, ...(url ? { url } : {}) };
  }
  return {
    ctx: { event: payload.event, app, build, ...(release ? { release } : {}), ...(preview ? { preview } : {}), publicUrl: deps.publicUrl },
  };
}
