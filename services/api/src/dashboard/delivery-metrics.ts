import type { Build, Release } from "@hoist/shared";

/** The four DORA measures over one window. Durations in seconds; null where nothing happened to measure. */
export interface DeliveryMetrics {
  windowDays: number;
  deployments: number;
  deploymentsPerDay: number;
  leadTimeSeconds: { median: number | null; p90: number | null; samples: number };
  changeFailureRate: number | null;
  failures: number;
  timeToRestoreSeconds: { median: number | null; samples: number };
}

const DAY_MS = 24 * 3600 * 1000;

export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  // Nearest-rank: the smallest value with at least p of the samples at or below it.
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1] ?? null;
}

const time = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

/** A release that reached the target and was judged: went live, or failed there. */
const attempted = (r: Release) =>
  r.status === "live" || r.status === "retired" || r.status === "rolled_back" || (r.status === "failed" && r.reason !== "superseded");
const isFailure = (r: Release) => r.status === "rolled_back" || (r.status === "failed" && r.reason !== "superseded");

/**
 * Computes deployment frequency, lead time for changes (commit time to live), change failure
 * rate and time to restore from release and build records, for releases created within
 * `windowDays` before `now`.
 */
export function deliveryMetrics(releases: Release[], builds: Map<string, Build>, windowDays: number, now = Date.now()): DeliveryMetrics {
  const since = now - windowDays * DAY_MS;
  const inWindow = releases.filter((r) => time(r.createdAt) >= since && time(r.createdAt) <= now);
  const wentLive = inWindow.filter((r) => r.liveAt !== undefined);
  const leadTimes = wentLive
    .map((r) => {
      const build = builds.get(r.buildId);
      // Rollbacks and promotions re-deploy old code: they are not changes, so they have no lead time.
      if (!build || r.sourceReleaseId) return Number.NaN;
      const committed = time(build.commit?.timestamp) || time(build.createdAt);
      return (time(r.liveAt) - committed) / 1000;
    })
    .filter((s) => Number.isFinite(s) && s >= 0)
    .sort((a, b) => a - b);
  const judged = inWindow.filter(attempted);
  const failures = judged.filter(isFailure);
  const liveTimes = releases
    .map((r) => time(r.liveAt))
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
  const restores = failures
    .map((f) => {
      const failedAt = time(f.finishedAt) || time(f.createdAt);
      const next = liveTimes.find((t) => t > failedAt);
      return next === undefined ? Number.NaN : (next - failedAt) / 1000;
    })
    .filter((s) => Number.isFinite(s))
    .sort((a, b) => a - b);
  return {
    windowDays,
    deployments: wentLive.length,
    deploymentsPerDay: Math.round((wentLive.length / windowDays) * 100) / 100,
    leadTimeSeconds: { median: percentile(leadTimes, 0.5), p90: percentile(leadTimes, 0.9), samples: leadTimes.length },
    changeFailureRate: judged.length ? Math.round((failures.length / judged.length) * 1000) / 1000 : null,
    failures: failures.length,
    timeToRestoreSeconds: { median: percentile(restores, 0.5), samples: restores.length },
  };
}
