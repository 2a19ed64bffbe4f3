import { createHash, timingSafeEqual } from "node:crypto";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { queueNames } from "../queues/catalog.js";
import type { JobQueues } from "../queues/producer.js";

/** One registry per process, served at /metrics (the API's port, or a worker's health port). */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: "hoist_process_" });

const stageDuration = new Histogram({
  name: "hoist_stage_duration_seconds",
  help: "Duration of each pipeline stage (clone, build, push, deploy, notify, ...)",
  labelNames: ["stage", "outcome"] as const,
  buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
  registers: [metricsRegistry],
});

export const buildsTotal = new Counter({
  name: "hoist_builds_total",
  help: "Builds finished, by outcome (succeeded, failed, canceled)",
  labelNames: ["outcome"] as const,
  registers: [metricsRegistry],
});

export const releasesTotal = new Counter({
  name: "hoist_releases_total",
  help: "Releases finished, by outcome (live, failed, rolled_back)",
  labelNames: ["outcome"] as const,
  registers: [metricsRegistry],
});

export const notificationsTotal = new Counter({
  name: "hoist_notifications_total",
  help: "Notifications handled, by destination and outcome (sent, skipped, failed)",
  labelNames: ["destination", "outcome"] as const,
  registers: [metricsRegistry],
});

/** Measures `fn` as one `stage`, labelled ok or error. */
export async function timeStage<T>(stage: string, fn: () => Promise<T>): Promise<T> {
  const end = stageDuration.startTimer({ stage });
  try {
    const result = await fn();
    end({ outcome: "ok" });
    return result;
  } catch (err) {
    end({ outcome: "error" });
    throw err;
  }
}

let queueGaugesFor: JobQueues | undefined;

/**
 * Queue depth per state and the age of the oldest waiting job, read from Redis at scrape time
 * (so every replica reports the same shared queues; aggregate with max, not sum).
 */
export function registerQueueMetrics(queues: JobQueues): void {
  queueGaugesFor = queues;
  if (metricsRegistry.getSingleMetric("hoist_queue_jobs")) return;
  new Gauge({
    name: "hoist_queue_jobs",
    help: "Jobs per queue and state",
    labelNames: ["queue", "state"] as const,
    registers: [metricsRegistry],
    async collect() {
      const q = queueGaugesFor;
      if (!q) return;
      this.reset();
      await Promise.all(
        queueNames.map(async (name) => {
          const counts = await q.queue(name).getJobCounts("waiting", "active", "delayed", "prioritized", "failed", "completed");
          for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
        }),
      );
    },
  });
  new Gauge({
    name: "hoist_queue_oldest_waiting_age_seconds",
    help: "Age of the oldest job waiting in each queue (0 when none waits)",
    labelNames: ["queue"] as const,
    registers: [metricsRegistry],
    async collect() {
      const q = queueGaugesFor;
      if (!q) return;
      await Promise.all(
        queueNames.map(async (name) => {
          const [oldest] = await q.queue(name).getJobs(["waiting"], 0, 0, true);
          this.set({ queue: name }, oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0);
        }),
      );
    },
  });
}

/** Whether `host` (a listen address) is reachable only from this machine. */
function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Who may read /metrics: with `HOIST_METRICS_TOKEN` set, a request carrying it as
 * `Authorization: Bearer <token>`; without one, anyone who can reach a server bound to loopback
 * only (a worker's health port by default), and no one on a server that listens further.
 */
export function metricsAccess(
  authorization: string | undefined,
  opts: { token?: string | undefined; host: string },
): { ok: true } | { ok: false; status: 401 | 403; message: string } {
  if (opts.token) {
    const given = /^Bearer (.+)$/.exec(authorization ?? "")?.[1] ?? "";
    const a = createHash("sha256").update(given).digest();
    const b = createHash("sha256").update(opts.token).digest();
    return timingSafeEqual(a, b)
      ? { ok: true }
      : { ok: false, status: 401, message: "missing or wrong metrics token: send Authorization: Bearer <HOIST_METRICS_TOKEN>" };
  }
  if (isLoopbackHost(opts.host)) return { ok: true };
  return {
    ok: false,
    status: 403,
    message: `metrics are not served on ${opts.host} without a token: set HOIST_METRICS_TOKEN and scrape with Authorization: Bearer <token>`,
  };
}
