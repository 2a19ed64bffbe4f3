import { type JobQueues, type Logger, ORPHAN_AFTER_MS, type Records, type Redis, recordKeys } from "@hoist/shared";

interface OrphanSweepDeps {
  redis: Redis;
  prefix: string;
  records: Records;
  queues: JobQueues;
  log: Logger;
}

/** Accepted builds read per batch; a sweep goes on while batches come back full, boundedly. */
const BATCH = 500;
const MAX_BATCHES = 50;

/**
 * Finds accepted builds still `queued` without a build job and stores their job (the job id is the
 * build id, so a job that appears meanwhile is not doubled); settles the rest. Returns the ids
 * it queued.
 */
export async function sweepOrphanedBuilds(deps: OrphanSweepDeps, now = Date.now(), olderThanMs = ORPHAN_AFTER_MS): Promise<string[]> {
  const requeued: string[] = [];
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const ids = await deps.records.builds.acceptedBefore(now - olderThanMs, BATCH);
    if (ids.length === 0) break;
    // Statuses only: a sweep runs beside builds, so it must not decode hundreds of records at once.
    const statuses = await deps.records.builds.statuses(ids);
    for (const [i, id] of ids.entries()) {
      if (statuses[i] === "queued" && !(await deps.queues.hasJob("build", { kind: "build", buildId: id }))) {
        await deps.queues.enqueue("build", { kind: "build", buildId: id });
        deps.log.warn({ buildId: id }, "build was accepted but its job never stored (its API process died?); queued it now");
        requeued.push(id);
      }
    }
    await deps.records.builds.settleAccepted(ids);
    if (ids.length < BATCH) break;
  }
  return requeued;
}

/**
 * Sweeps every `everyMs` in one builder at a time (a short Redis lease), so N builders do not
 * repeat the work. Returns a stop function.
 */
export function startOrphanSweeps(deps: OrphanSweepDeps, everyMs = 15_000): () => void {
  const lease = recordKeys(deps.prefix).orphanSweep;
  const timer = setInterval(() => {
    void (async () => {
      if ((await deps.redis.set(lease, "1", "PX", Math.max(1000, everyMs - 500), "NX")) !== "OK") return;
      await sweepOrphanedBuilds(deps);
    })().catch((err: Error) => deps.log.warn({ err: err.message }, "orphaned-build sweep failed; trying again next time"));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
