import type { AddressInfo } from "node:net";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHealthServer } from "../lifecycle/health-server.js";
import { JobQueues } from "../queues/producer.js";
import { deletePrefix, testRedis, uniquePrefix } from "../testing/index.js";
import { buildsTotal, metricsAccess, metricsRegistry, registerQueueMetrics, timeStage } from "./metrics.js";

describe("prometheus metrics", () => {
  let redis: Redis;
  let queues: JobQueues;
  const prefix = uniquePrefix("metrics");

  beforeAll(() => {
    redis = testRedis();
    queues = new JobQueues(redis, prefix);
  });
  afterAll(async () => {
    await queues.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it("reports queue depth, oldest waiting age, stage durations and outcomes over the health server", async () => {
    registerQueueMetrics(queues);
    await queues.enqueue("build", { kind: "build", buildId: "bld_m1" }, { timestamp: Date.now() - 5_000 });
    await queues.enqueue("build", { kind: "build", buildId: "bld_m2" });
    await timeStage("clone", async () => {});
    await expect(timeStage("push", async () => Promise.reject(new Error("registry down")))).rejects.toThrow("registry down");
    buildsTotal.inc({ outcome: "succeeded" });

    const server = await startHealthServer(0, "127.0.0.1", () => ({ ok: true }));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(metricsRegistry.contentType);
      const text = await res.text();
      expect(text).toContain('hoist_queue_jobs{queue="build",state="waiting"} 2');
      expect(text).toContain('hoist_queue_jobs{queue="deploy",state="waiting"} 0');
      const age = Number(/hoist_queue_oldest_waiting_age_seconds\{queue="build"\} ([\d.]+)/.exec(text)?.[1]);
      expect(age).toBeGreaterThanOrEqual(4.5);
      expect(text).toMatch(/hoist_stage_duration_seconds_count\{stage="clone",outcome="ok"\} 1/);
      expect(text).toMatch(/hoist_stage_duration_seconds_count\{stage="push",outcome="error"\} 1/);
      expect(text).toContain('hoist_builds_total{outcome="succeeded"} 1');
      expect(text).toContain("hoist_process_");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("serves /metrics with the token when one is set; without one only on loopback", async () => {
    const token = "metrics-token-0123456789abcdef";
    const guarded = await startHealthServer(0, "127.0.0.1", () => ({ ok: true }), { metricsToken: token });
    const open = await startHealthServer(0, "0.0.0.0", () => ({ ok: true }));
    try {
      const at = (s: typeof guarded) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      expect((await fetch(`${at(guarded)}/metrics`)).status).toBe(401);
      expect((await fetch(`${at(guarded)}/metrics`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
      expect((await fetch(`${at(guarded)}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      // The health check itself needs no token.
      expect((await fetch(`${at(guarded)}/healthz`)).status).toBe(200);
      const refused = await fetch(`${at(open)}/metrics`);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/set HOIST_METRICS_TOKEN/);
      expect((await fetch(`${at(open)}/healthz`)).status).toBe(200);
    } finally {
      await new Promise((r) => guarded.close(r));
      await new Promise((r) => open.close(r));
    }
    expect(metricsAccess(undefined, { host: "::1" })).toEqual({ ok: true });
    expect(metricsAccess(undefined, { host: "10.0.0.5" }).ok).toBe(false);
  });
});
