import { type App, type Build, BuildLifecycle, type JobQueues, newId, publishBuildCanceled, type Records, type Redis } from "@hoist/shared";

export interface BuildDeps {
  redis: Redis;
  records: Records;
  queues: JobQueues;
  prefix: string;
  /** The clock a delivery's dedupe window is measured on (Date.now when absent). */
  now?: () => number;
}

export interface NewBuild {
  app: string;
  ref: string;
  sha: string;
  before?: string;
  trigger: Build["trigger"];
  commit?: Build["commit"];
  /** Build without the engine's layer cache (a manual build asked for it). */
  noCache?: boolean;
  /** Pre-allocated id (the webhook claims its dedupe key with it before storing). */
  id?: string;
}

/** The record fields of a new build (optional ones only when given). */
export function buildFields(input: NewBuild) {
  return {
    id: input.id ?? newId("bld"),
    app: input.app,
    ref: input.ref,
    sha: input.sha,
    ...(input.before ? { before: input.before } : {}),
    trigger: input.trigger,
    ...(input.commit ? { commit: input.commit } : {}),
    ...(input.noCache ? { noCache: true } : {}),
  };
}

/** The build lifecycle over the request's records and queues: its transitions send their own notify events. */
export function buildLifecycle(deps: Pick<BuildDeps, "records" | "queues">): BuildLifecycle {
  return new BuildLifecycle(deps.records, deps.queues);
}

/**
 * Stores a queued build and its build job, then sends its build.pending events (written with the
 * record). If the job cannot be added, the record and its events are removed again (best effort)
 * so no build sits "queued" without a job, and the error propagates.
 */
export async function storeBuild(deps: BuildDeps, input: NewBuild): Promise<Build> {
  const { build, outbox } = await deps.records.builds.createWithEvents(buildFields(input));
  try {
    await deps.queues.enqueue("build", { kind: "build", buildId: build.id });
  } catch (err) {
    await deps.records.builds.remove(build, outbox).catch(() => {});
    throw err;
  }
  await buildLifecycle(deps).outbox.send(outbox);
  return build;
}

/**
 * After a build and its job are stored (the build will run either way; its build.pending events
 * went out with it): index it for later supersedes, and cancel older builds of the ref. `open` is
 * the ref's open builds when the caller already indexed it (a webhook delivery does so atomically
 * with the record); otherwise it is indexed and read here. Independent steps, so they go out together.
 */
export async function finishBuild(deps: BuildDeps, build: Build, app: Pick<App, "supersede">, open?: string[]): Promise<void> {
  await Promise.all([open ? undefined : deps.records.builds.markOpen(build), supersedeOlder(deps, build, app.supersede, open)]);
}

/** Cancels a queued or running build (its build.canceled events go to the app's destinations) and tells running builders. */
export async function cancelBuild(
  deps: BuildDeps,
  id: string,
  canceledBy: "user" | "superseded",
  from: Build["status"][] = ["queued", "running"],
) {
  const result = await buildLifecycle(deps).cancel(id, canceledBy, from);
  if (!result.ok)
    return result.reason === "missing"
      ? ({ ok: false, reason: "missing" } as const)
      : ({ ok: false, reason: "state", current: result.current } as const);
  await publishBuildCanceled(deps.redis, deps.prefix, id);
  return { ok: true, build: result.record } as const;
}

/**
 * A newer push (by arrival, i.e. a higher build number) to the same app and ref cancels that
 * ref's older queued builds and, with supersede "running", its running build too. Except when
 * it arrived late: GitLab sends pushes concurrently, so the push of A can arrive after the push
 * A→B. An open build whose `before` is this build's commit is its successor; then this build is
 * the superseded one (else the older commit would end live).
 */
async function supersedeOlder(deps: BuildDeps, build: Build, mode: "running" | "queued", knownOpen?: string[]): Promise<string[]> {
  // The ref's open builds stay few: every new build of the ref prunes those finished or canceled.
  const close = (ids: string[]) => deps.records.builds.closeOpen(build.app, build.ref, ids);
  const openIds = (knownOpen ?? (await deps.records.builds.openIds(build.app, build.ref))).filter((id) => id !== build.id);
  if (openIds.length === 0) return [];
  const open = await Promise.all(openIds.map((id) => deps.records.builds.get(id)));
  if (open.some((b) => b?.before === build.sha && b.status !== "canceled")) {
    // Canceled even if running, whatever the supersede mode: a builder takes the job the moment
    // it is stored, before this step runs, and the older commit built to the end would go live.
    const out = await cancelBuild(deps, build.id, "superseded", ["queued", "running"]);
    if (out.ok || out.reason === "missing" || out.current !== "running") await close([build.id]);
    return out.ok ? [build.id] : [];
  }
  // A missing record still goes through cancelBuild, which reports it so it leaves the index.
  const olderIds = openIds.filter((_, i) => {
    const b = open[i];
    return b === undefined || b.number < build.number;
  });
  if (olderIds.length === 0) return [];
  const from: Build["status"][] = mode === "running" ? ["queued", "running"] : ["queued"];
  const canceled: string[] = [];
  const done: string[] = [];
  for (const id of olderIds) {
    const out = await cancelBuild(deps, id, "superseded", from);
    if (out.ok) canceled.push(id);
    // Still running under supersede "queued": a later push with another policy may cancel it.
    if (out.ok || out.reason === "missing" || out.current !== "running") done.push(id);
  }
  await close(done);
  return canceled;
}
