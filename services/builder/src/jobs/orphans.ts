import type { JobQueues, Logger, Records, Redis } from "@hoist/shared";

/**
 * A build accepted this long ago is past every deadline of the request that stored it: if its
 * job is still missing, that request's process died (or lost Redis) between the two writes.
 * GitLab never resends by itself, so nothing else would ever build it.
 */
export const ORPHAN_AFTER_MS = 30_000;

export interface OrphanSweepDeps {
  redis: Redis;
  prefix: string;
  records: Records;
  queues: JobQueues;
  log: Logger;
}

/**
 * Finds accepted builds still `queued` without a build job and stores their job (the job id is the
 * build id, so a job that appears meanwhile is not doubled); settles the rest. Returns the ids
 * it queued.
 */
export async function sweepOrphanedBuilds(deps: OrphanSweepDeps, now = Date.now(), olderThanMs = ORPHAN_AFTER_MS): Promise<string[]> {
  const ids = await deps.records.builds.acceptedBefore(now - olderThanMs);
  if (ids.length === 0) return [];
  // Statuses only: a sweep runs beside builds, so it must not decode hundreds of records at once.
  const statuses = await deps.records.builds.statuses(ids);
  const requeued: string[] = [];
  for (const [i, id] of ids.entries()) {
    if (statuses[i] === "queued" && !(await deps.queues.hasJob("build", { kind: "build", buildId: id }))) {
      await deps.queues.enqueue("build", { kind: "build", buildId: id });
      deps.log.warn({ buildId: id }, "build was accepted but its job never stored (its API process died?); queued it now");
      requeued.push(id);
    }
  }
  const settled = ids;
  await deps.records.builds.settleAccepted(settled);
  return requeued;
}

/**
 * Sweeps every `everyMs` in one builder at a time (a short Redis lease), so N builders do not
 * repeat the work. Returns a stop function.
 */
export function startOrphanSweeps(deps: OrphanSweepDeps, everyMs = 15_000): () => void {
  const lease = `${deps.prefix}:builder:orphan-sweep`;
  const timer = setInterval(() => {
    void (async () => {
      if ((await deps.redis.set(lease, "1", "PX", Math.max(1000, everyMs - 500), "NX")) !== "OK") return;
      // A busy period leaves more than one batch behind: settle them all, boundedly.
      for (let i = 0; i < 50; i++) {
        const before = await deps.records.builds.acceptedBefore(Date.now() - ORPHAN_AFTER_MS, 1);
        if (before.length === 0) break;
        await sweepOrphanedBuilds(deps);
      }
    })().catch((err: Error) => deps.log.warn({ err: err.message }, "orphaned-build sweep failed; trying again next time"));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
