import { type Actor, type JobQueues, NotFoundError, type Records, type Release, ReleaseGates } from "@hoist/shared";
import { StateConflictError, UnavailableError } from "./errors.js";

/** What approving, rejecting and deploy-now need: the records and the deploy queue. */
interface GateDeps {
  records: Records;
  queues: JobQueues;
}

/** The environment a release belongs to (a release stored before environments is production's). */
export function releaseEnvironment(release: Release): string {
  return release.environment;
}

/** A release of `app` in environment `env`, or 404 (one of another app or environment is as good as missing here). */
async function requireRelease(deps: GateDeps, app: string, env: string, id: string): Promise<Release> {
  const release = await deps.records.releases.get(id);
  if (!release || release.app !== app || releaseEnvironment(release) !== env) {
    throw new NotFoundError(`release ${id} of app ${app} in environment ${env} not found`);
  }
  return release;
}

/**
 * Queues the release's deploy under `jobId`: one per step (the approval that completed it, a
 * deploy-now), so asking again queues nothing new while that job is kept, and a request whose
 * enqueue failed is healed by its retry (the approval already counted).
 */
async function enqueue(deps: GateDeps, releaseId: string, jobId: string): Promise<void> {
  try {
    await deps.queues.enqueue("deploy", { kind: "deploy", releaseId }, { jobId });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new UnavailableError(
      `recorded, but the deploy of release ${releaseId} could not be queued (${why}); send the same request again`,
    );
  }
}

/**
 * A person approves a release awaiting approval. Each person counts once; the approval that
 * brings the release to its environment's `requiredApprovals` queues its deploy (which then meets
 * the freezes). Asking again after that queues the same job again, so a lost enqueue is retried.
 */
export async function approveRelease(deps: GateDeps, app: string, env: string, id: string, actor: Actor): Promise<Release> {
  const release = await requireRelease(deps, app, env, id);
  const gates = new ReleaseGates(deps.records, deps.queues);
  const res = await gates.approve(id, actor);
  if (res.kind === "missing") throw new NotFoundError(`release ${id} not found`);
  if (res.kind === "state") {
    throw new StateConflictError(
      "not_awaiting_approval",
      `release ${id} is ${res.status}, not awaiting approval: there is nothing to approve`,
    );
  }
  const now = await deps.records.releases.require(id);
  const required = now.requiredApprovals ?? release.requiredApprovals ?? 0;
  // The approval that reached the count names the job: the same on every retry of this wait.
  const reached = now.approvals?.[Math.max(0, required - 1)];
  if (res.count >= required && reached) await enqueue(deps, id, `${id}.approved.${Date.parse(reached.at)}`);
  return now;
}

/** A person rejects a release awaiting approval (or frozen): it ends `rejected`, with who and why. */
export async function rejectRelease(deps: GateDeps, app: string, env: string, id: string, actor: Actor, reason: string): Promise<Release> {
  await requireRelease(deps, app, env, id);
  const res = await new ReleaseGates(deps.records, deps.queues).reject(id, actor, reason);
  if (!res.ok && res.reason === "missing") throw new NotFoundError(`release ${id} not found`);
  if (!res.ok) {
    throw new StateConflictError(
      "not_awaiting_approval",
      `release ${id} is ${res.current}: only a release awaiting approval or frozen can be rejected`,
    );
  }
  return res.record;
}

/**
 * An operator deploys a frozen release through its freeze: the override (who, why, when) is
 * recorded on the release and its deploy queued; the gates let it pass the freeze (approvals it
 * had already).
 */
export async function deployNow(deps: GateDeps, app: string, env: string, id: string, actor: Actor, reason: string): Promise<Release> {
  await requireRelease(deps, app, env, id);
  const res = await new ReleaseGates(deps.records, deps.queues).override(id, { by: actor.by, name: actor.name }, reason);
  if (res.kind === "missing") throw new NotFoundError(`release ${id} not found`);
  if (res.kind === "state") {
    throw new StateConflictError("not_frozen", `release ${id} is ${res.status}, not frozen: deploy-now overrides a freeze only`);
  }
  const now = await deps.records.releases.require(id);
  await enqueue(deps, id, `${id}.deploy-now.${Date.parse(now.override?.at ?? new Date().toISOString())}`);
  return now;
}
