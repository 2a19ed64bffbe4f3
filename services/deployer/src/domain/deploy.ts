import { type App, type BeginResult, deployUnit, type HeldLock, type Release, timeStage, withSpan } from "@hoist/shared";
import { type GatePorts, gate } from "./gate.js";
import { type DeployTarget, PermanentDeployError } from "./target.js";

/** The ports a deploy runs through; Redis, podman, ECS, GitLab and the clock stay behind them. */
export interface DeployPorts extends GatePorts {
  loadRelease(id: string): Promise<Release | undefined>;
  /**
   * The app as the release's environment deploys it (shared deploymentOf: named by its deploy unit,
   * with the environment's target); undefined when the app or the environment is gone.
   */
  loadDeployment(release: Release): Promise<App | undefined>;
  openEnv(release: Release): Promise<Record<string, string>>;
  /** Takes the deploy unit's lock (an app's environment); when it is held, `waiter` (the release id) is woken by its release. */
  tryLock(unit: string, waiter: string): Promise<HeldLock | undefined>;
  /**
   * The release's job was put to sleep until its retry because its unit was locked: wake it now if
   * the lock was released meanwhile (else the holder's release wakes it).
   */
  sleepUntilUnlocked(unit: string, releaseId: string): Promise<void>;
  /** The release's transitions (shared lifecycle): each sends its own notify events. */
  begin(release: Release, lock: HeldLock): Promise<BeginResult>;
  goLive(release: Release, lock: HeldLock): Promise<{ replaced?: string; rolledBack: boolean }>;
  fail(release: Release, reason: string, lock: HeldLock | undefined): Promise<boolean>;
  targetFor(app: App): DeployTarget;
  step(releaseId: string, line: string): Promise<void>;
}

type DeployResult =
  | { kind: "live"; replaced?: string }
  /** Held by its environment's gates: waits for people, or (frozen) for `until` (ms on the ports' clock). */
  | { kind: "awaiting_approval" }
  | { kind: "frozen"; until: number }
  | { kind: "failed"; reason: string; permanent: boolean }
  | { kind: "superseded"; by: string }
  | { kind: "already"; status: Release["status"] }
  | { kind: "locked"; unit: string };

class ReleaseGoneError extends PermanentDeployError {}

/** The statuses a deploy job still has work for: the gates' holds, and a deploy not finished. */
const GATED: ReadonlySet<Release["status"]> = new Set(["pending", "awaiting_approval", "frozen", "deploying"]);

/**
 * Runs one deploy of a release under the lock of its deploy unit (its app's environment: deploys
 * of one environment run one at a time, environments of an app side by side). Idempotent: a release already finished is
 * left alone, and one left `deploying` by a crashed attempt is rolled out again (targets
 * converge). Returns `locked` when another deploy of the app holds the lock: try again later.
 * Transient errors propagate (the caller retries) unless `lastAttempt`, when the release is
 * recorded failed first so nothing stays `deploying`.
 */
export async function deployRelease(
  ports: DeployPorts,
  releaseId: string,
  opts: { lastAttempt: boolean; signal?: AbortSignal | undefined },
): Promise<DeployResult> {
  const first = await ports.loadRelease(releaseId);
  if (!first) throw new ReleaseGoneError(`release ${releaseId} does not exist (deleted?); nothing to deploy`);
  if (!GATED.has(first.status)) return { kind: "already", status: first.status };
  if (first.status !== "deploying") {
    // The gates come before the lock: a held release takes no deploy slot of its app.
    const app = await ports.loadDeployment(first);
    if (app) {
      const passed = await gate(ports, first, app);
      if (passed.kind === "awaiting_approval") return { kind: "awaiting_approval" };
      if (passed.kind === "frozen") return { kind: "frozen", until: passed.until };
      if (passed.kind === "gone") return { kind: "already", status: passed.status };
    }
  }

  const unit = deployUnit(first.app, first.environment);
  const lock = await ports.tryLock(unit, releaseId);
  if (!lock) return { kind: "locked", unit };
  try {
    const begun = await ports.begin(first, lock);
    if (begun.kind === "missing") throw new ReleaseGoneError(`release ${releaseId} disappeared while deploying`);
    if (begun.kind === "finished") return { kind: "already", status: begun.status };
    if (begun.kind === "superseded") {
      await ports.step(releaseId, `superseded by newer release ${begun.by}; the target was not touched`);
      return { kind: "superseded", by: begun.by };
    }
    // Read fresh under the lock; the log line goes out in the same round trip.
    const [loaded, app] = await Promise.all([
      ports.loadRelease(releaseId),
      ports.loadDeployment(first),
      ports.step(releaseId, `deploy started (attempt holds lock token ${lock.token})`),
    ]);
    const release = loaded ?? first;
    try {
      if (!app) throw new PermanentDeployError(`app ${release.app} or its environment ${release.environment} does not exist any more`);
      const outcome = await rollout(ports, app, release, lock, opts.signal);
      lock.assertHeld();
      if (outcome.ok) {
        const { replaced } = await ports.goLive(release, lock);
        await ports.step(releaseId, replaced ? `live; replaced release ${replaced}` : "live");
        return { kind: "live", ...(replaced ? { replaced } : {}) };
      }
      await finishFailed(ports, release, outcome.reason, lock);
      return { kind: "failed", reason: outcome.reason, permanent: true };
    } catch (err) {
      const permanent = err instanceof PermanentDeployError;
      if (permanent || opts.lastAttempt) {
        const reason = err instanceof Error ? err.message : String(err);
        await finishFailed(ports, release, permanent ? reason : `gave up after the last attempt: ${reason}`, lock);
        return { kind: "failed", reason, permanent };
      }
      await ports.step(releaseId, `attempt failed, will retry: ${err instanceof Error ? err.message : String(err)}`).catch(() => {});
      throw err;
    }
  } finally {
    await lock.release();
  }
}

/**
 * Rolls the release out on its app's target, as a span of the push's trace (the deploy job's
 * span is active) and a stage metric. Losing the lock (or the worker closing) stops the target's
 * waits, so a stale deploy does not go on beside the next one.
 */
async function rollout(ports: DeployPorts, app: App, release: Release, lock: HeldLock, workerSignal: AbortSignal | undefined) {
  const env = await ports.openEnv(release);
  const target = ports.targetFor(app);
  const stop = new AbortController();
  lock.lost.catch(() => stop.abort());
  const signal = workerSignal ? AbortSignal.any([workerSignal, stop.signal]) : stop.signal;
  const attributes = {
    "hoist.app": release.app,
    "hoist.environment": release.environment,
    "hoist.build_id": release.buildId,
    "hoist.release_id": release.id,
    "hoist.target": app.target.kind,
  };
  return withSpan(`deploy ${app.target.kind}`, { attributes }, async (span) => {
    const o = await timeStage("deploy", () =>
      Promise.race([target.deploy({ app, release, env, step: (line) => ports.step(release.id, line), signal }), lock.lost]),
    );
    span.setAttribute("hoist.outcome", o.ok ? "healthy" : "failed");
    return o;
  });
}

async function finishFailed(ports: DeployPorts, release: Release, reason: string, lock: HeldLock): Promise<void> {
  if (await ports.fail(release, reason, lock)) {
    await ports.step(release.id, `failed: ${reason}`);
  }
}
