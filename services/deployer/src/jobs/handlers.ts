import { type HandlerMap, type Logger, releasesTotal, stalledReason, UnrecoverableError } from "@hoist/shared";
import { DelayedError } from "bullmq";
import { type DeployPorts, deployRelease } from "../domain/deploy.js";

export function handlers(deps: { log: Logger; ports: DeployPorts; lockRetryMs: number }): HandlerMap<"deploy"> {
  return {
    deploy: async (payload, { job, token, log, signal }) => {
      const attempts = job.opts.attempts ?? 1;
      // A PermanentDeployError fails the job for good (createWorker maps it).
      const result = await deployRelease(deps.ports, payload.releaseId, { lastAttempt: job.attemptsMade + 1 >= attempts, signal });
      switch (result.kind) {
        case "locked":
          // Another deploy of this app's environment runs: wait in the delayed set, not in a worker slot, so other apps go on.
          log.debug({ releaseId: payload.releaseId }, "app locked by another deploy; delaying");
          // The lock holder's release wakes it at once; the delay is the fallback should that process die.
          await job.moveToDelayed(Date.now() + deps.lockRetryMs, token);
          await deps.ports.sleepUntilUnlocked(result.unit, payload.releaseId);
          throw new DelayedError();
        case "awaiting_approval":
          // Nothing waits in the queue for people: an approval that completes it queues its deploy again.
          log.info({ releaseId: payload.releaseId }, "release awaits approval");
          return result;
        case "frozen": {
          // Asleep in the delayed set until the freeze ends (on the ports' clock), then through the gates again.
          const wait = Math.max(0, result.until - deps.ports.now());
          log.info(
            { releaseId: payload.releaseId, until: new Date(result.until).toISOString() },
            "release frozen; delayed until the freeze ends",
          );
          await job.moveToDelayed(Date.now() + wait, token);
          throw new DelayedError();
        }
        case "failed":
          releasesTotal.inc({ outcome: "failed" });
          log.warn({ releaseId: payload.releaseId, reason: result.reason.split("\n")[0] }, "release failed");
          throw new UnrecoverableError(result.reason);
        default:
          if (result.kind === "live") releasesTotal.inc({ outcome: "live" });
          log.info({ releaseId: payload.releaseId, result: result.kind }, "deploy finished");
          return result;
      }
    },
  };
}

/**
 * For a deploy job that failed for good without its handler recording it (a worker that stalled
 * past BullMQ's limit, a payload that broke mid-flight): fail the release if it is still pending
 * or deploying, so no release stays `deploying` forever. Unfenced: the job is dead, so no attempt
 * of this release holds the app lock any more.
 */
export async function recordDeadDeploy(
  ports: DeployPorts,
  job: { data: unknown; attemptsMade: number; opts: { attempts?: number } } | undefined,
  err: Error,
): Promise<boolean> {
  if (!job) return false;
  // BullMQ fails a job that stalled too often for good, whatever attempts it had left.
  const stalledOut = stalledReason(err.message) !== err.message;
  const final = err.name === "UnrecoverableError" || stalledOut || job.attemptsMade >= (job.opts.attempts ?? 1);
  if (!final) return false;
  const releaseId = (job.data as { releaseId?: unknown }).releaseId;
  if (typeof releaseId !== "string") return false;
  const release = await ports.loadRelease(releaseId).catch(() => undefined);
  // A frozen release whose job is dead would never wake: failed, so someone promotes it. One
  // awaiting approval needs no job (an approval queues one).
  if (!release || (release.status !== "pending" && release.status !== "deploying" && release.status !== "frozen")) return false;
  const reason = `the deploy job failed: ${stalledReason(err.message)}`;
  if (!(await ports.fail(release, reason, undefined))) return false;
  await ports.step(release.id, `failed: ${reason}`);
  return true;
}
