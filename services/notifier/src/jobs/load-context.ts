import { type NotifyPayload, UnrecoverableError } from "@hoist/shared";
import type { NotifyContext } from "../domain/context.js";
import type { NotifierDeps } from "./deps.js";

export type Loaded = { ctx: NotifyContext } | { skip: string };

/**
 * Loads the records a notify job is about. A missing build or release is permanent (the job
 * names something that does not exist); a deleted app means there is nobody to tell.
 */
export async function loadContext(deps: NotifierDeps, payload: NotifyPayload, opts: { releaseOfBuild?: boolean } = {}): Promise<Loaded> {
  const build = await deps.records.builds.get(payload.buildId);
  if (!build) throw new UnrecoverableError(`build ${payload.buildId} not found: nothing to notify about`);
  const app = await deps.records.apps.get(build.app);
  if (!app) return { skip: `skipped: app ${build.app} no longer exists` };
  const releaseId = payload.releaseId ?? (opts.releaseOfBuild ? build.releaseId : undefined);
  if (payload.event.startsWith("release.") && !payload.releaseId) {
    throw new UnrecoverableError(`${payload.event} needs a releaseId in the job`);
  }
  const release = releaseId ? await deps.records.releases.get(releaseId) : undefined;
  if (payload.releaseId && !release) throw new UnrecoverableError(`release ${payload.releaseId} not found: nothing to notify about`);
  return { ctx: { event: payload.event, app, build, ...(release ? { release } : {}), publicUrl: deps.publicUrl } };
}
