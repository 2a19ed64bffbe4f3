import { type JobQueues, NotFoundError, PRODUCTION, type Records, type Release } from "@hoist/shared";
import { StateConflictError, UnavailableError } from "./errors.js";

/** What promoting and rolling back need: the records and the deploy queue. */
interface ReleaseDeps {
  records: Records;
  queues: JobQueues;
}

const PAGE = 200;

/** Walks an environment's releases newest first until `match` holds (releases are few per page; history can be long). */
async function findRelease(
  deps: ReleaseDeps,
  app: string,
  environment: string,
  match: (r: Release) => boolean,
): Promise<Release | undefined> {
  for (let offset = 0; ; offset += PAGE) {
    const page = await deps.records.releases.listByEnvironment(app, environment, PAGE, offset);
    const hit = page.find(match);
    if (hit || page.length < PAGE) return hit;
  }
}

export async function requireApp(deps: ReleaseDeps, app: string): Promise<void> {
  if (!(await deps.records.apps.get(app))) throw new NotFoundError(`app ${app} not found`);
}

/** A release of `app`, or 404 (a release of another app is as good as missing here). */
async function requireRelease(deps: ReleaseDeps, app: string, id: string): Promise<Release> {
  const release = await deps.records.releases.get(id);
  if (!release || release.app !== app) throw new NotFoundError(`release ${id} of app ${app} not found`);
  return release;
}

/**
 * Queues a release's deploy. Should that fail (Redis went away between two calls), the release is
 * marked failed rather than left `pending` with no job to ever move it, and the request answers 503.
 */
export async function enqueueDeploy(deps: ReleaseDeps, releaseId: string, jobId?: string): Promise<void> {
  try {
    await deps.queues.enqueue("deploy", { kind: "deploy", releaseId }, jobId ? { jobId } : {});
  } catch (err) {
    await deps.records.releases
      .transition(releaseId, ["pending"], {
        status: "failed",
        reason: "the deploy could not be queued; promote the release to try again",
        finishedAt: new Date().toISOString(),
      })
      .catch(() => undefined);
    const why = err instanceof Error ? err.message : String(err);
    throw new UnavailableError(`release ${releaseId} was stored but its deploy could not be queued (${why}); promote it to try again`);
  }
}

/** Re-creates `source` as a new, newest release of its environment (its images, build and variables), and queues its deploy. */
async function redeployAsNew(deps: ReleaseDeps, source: Release, rollbackOf?: string): Promise<Release> {
  const release = await deps.records.releases.create({
    app: source.app,
    environment: source.environment,
    buildId: source.buildId,
    images: source.images,
    ...(source.env ? { env: source.env } : {}),
    sourceReleaseId: source.id,
    ...(rollbackOf ? { rollbackOf } : {}),
  });
  await enqueueDeploy(deps, release.id);
  return release;
}

/** Deploys an existing release again (or, when a newer one is live, a copy of it as the newest). */
export async function promoteRelease(deps: ReleaseDeps, app: string, id: string): Promise<Release> {
  await requireApp(deps, app);
  const release = await requireRelease(deps, app, id);
  if (release.status === "live") throw new StateConflictError("already_live", `release ${id} is already live`);
  if (release.status === "pending" || release.status === "deploying") {
    throw new StateConflictError("deploying", `release ${id} is already being deployed (${release.status})`);
  }
  if (release.status === "awaiting_approval" || release.status === "frozen") {
    throw new StateConflictError(
      "held",
      `release ${id} is ${release.status}: it deploys once approved (approve) or when the freeze ends (deploy-now overrides it)`,
    );
  }
  const newer = await findRelease(
    deps,
    app,
    release.environment,
    (r) => r.number > release.number && (r.status === "live" || r.status === "deploying"),
  );
  if (newer) {
    // Deploying it as it is would be superseded by the newer live one: promote a copy as the newest release.
    return redeployAsNew(deps, release);
  }
  const moved = await deps.records.releases.transition(id, [release.status], { status: "pending" });
  if (!moved.ok) throw new StateConflictError("conflict", `release ${id} changed while promoting it; try again`);
  // Its gates start afresh: approvals, a rejection, a freeze and an override were of the last time.
  await deps.records.releases.unset(id, [
    "reason",
    "finishedAt",
    "approvals",
    "rejection",
    "requiredApprovals",
    "frozenUntil",
    "freeze",
    "override",
  ]);
  // A new job id: the release's earlier deploy job (same release id) is kept in the queue's history.
  await enqueueDeploy(deps, id, `${id}.promote.${Date.now()}`);
  return deps.records.releases.require(id);
}

/** A new release from the one that was live before the current one in the environment (production by default), deployed. */
export async function rollbackApp(deps: ReleaseDeps, app: string, environment: string = PRODUCTION): Promise<Release> {
  await requireApp(deps, app);
  const live = await findRelease(deps, app, environment, (r) => r.status === "live");
  if (!live) throw new StateConflictError("no_live_release", `app ${app} has no live release to roll back`);
  const previous = await findRelease(
    deps,
    app,
    environment,
    (r) => r.number < live.number && r.liveAt !== undefined && (r.status === "retired" || r.status === "rolled_back"),
  );
  if (!previous) throw new StateConflictError("no_previous_release", `app ${app} has no earlier release that was live to roll back to`);
  return redeployAsNew(deps, previous, live.id);
}
