// bench:pipeline's scale figure: short builds (BENCH_SCALE_BUILD_MS, 50 ms by default, so that
// what each build costs around the build itself shows) drained by 1 builder process, then by 4,
// each booted through the builder's own main.js.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { JobQueues, Redis, ServiceUser } from "@hoist/shared";
import { QueueEvents } from "bullmq";
import { startService } from "./hoist-side.js";
import { emptyStamps } from "./stats.js";

export interface ScaleOpts {
  apiUrl: string;
  apiToken: string;
  apps: string[];
  queues: JobQueues;
  connection: () => Redis;
  prefix: string;
  env: Record<string, string>;
  redisUrls: Record<ServiceUser, string>;
  execArgv: string[];
  dir: string;
  builds: number;
  buildMs: number;
  concurrency: string;
}

/**
 * Queues `builds` builds while the build queue is paused, boots `builders` builder processes,
 * and times from resuming the queue to the last build job completed. Returns builds per second.
 */
export async function scalePhase(o: ScaleOpts, builders: number): Promise<number> {
  const queue = o.queues.queue("build");
  await queue.pause();
  const ids = new Set<string>();
  for (let i = 0; i < o.builds; i++) {
    const app = o.apps[i % o.apps.length] as string;
    const res = await fetch(`${o.apiUrl}/v1/apps/${app}/builds`, {
      method: "POST",
      headers: { authorization: `Bearer ${o.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ ref: `refs/heads/scale/${builders}/${i}`, sha: randomBytes(20).toString("hex") }),
    });
    const body = (await res.json()) as { id?: string };
    if (res.status !== 202 || !body.id) throw new Error(`POST builds answered ${res.status}: ${JSON.stringify(body)}`);
    ids.add(body.id);
  }
  const events = new QueueEvents("build", { connection: o.connection(), prefix: o.prefix });
  await events.waitUntilReady();
  const workers = await Promise.all(
    Array.from({ length: builders }, (_, n) =>
      startService("builder", {
        env: { ...o.env, HOIST_CONCURRENCY: o.concurrency },
        redisUrls: o.redisUrls,
        execArgv: o.execArgv,
        logFile: join(o.dir, `scale-${builders}-builder-${n}.log`),
        stamps: emptyStamps(),
        buildMs: o.buildMs,
      }),
    ),
  );
  const failed: string[] = [];
  const done = new Promise<void>((resolve) => {
    const left = new Set(ids);
    const settle = (jobId: string) => {
      left.delete(jobId);
      if (left.size === 0) resolve();
    };
    events.on("completed", ({ jobId }) => settle(jobId));
    events.on("failed", ({ jobId, failedReason }) => {
      if (ids.has(jobId)) failed.push(`${jobId}: ${failedReason}`);
      settle(jobId);
    });
  });
  const t0 = performance.now();
  await queue.resume();
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(workers.map((w) => w.stop()));
  await events.close();
  if (failed.length) throw new Error(`${failed.length} scale builds failed: ${failed.slice(0, 3).join("; ")}`);
  const perSecond = ids.size / seconds;
  console.log(
    `scale: ${builders} builder process${builders > 1 ? "es" : ""} × concurrency ${o.concurrency}: ${ids.size} builds of ${o.buildMs} ms in ${seconds.toFixed(2)} s = ${perSecond.toFixed(1)} builds/s`,
  );
  return perSecond;
}
