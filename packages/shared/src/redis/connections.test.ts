import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testRedisUrl } from "../testing/index.js";
import { assertNoEviction, createRedis, RedisPolicyError, waitForRedis } from "./connections.js";
import { redisTargetFrom } from "./target.js";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
    s.on("error", reject);
  });
}

describe("redis connections", () => {
  let lruPort = 0;
  let stopLru: () => void = () => {};

  beforeAll(async () => {
    // A Redis of its own with an evicting policy: the shared test Redis must stay noeviction.
    lruPort = await freePort();
    const child = spawn(
      "redis-server",
      ["--bind", "127.0.0.1", "--port", String(lruPort), "--save", "", "--maxmemory-policy", "allkeys-lru"],
      {
        stdio: "ignore",
      },
    );
    stopLru = () => child.kill("SIGTERM");
    const probe = createRedis(`redis://127.0.0.1:${lruPort}`, "worker");
    await waitForRedis(probe, 10_000);
    probe.disconnect();
  });
  afterAll(() => stopLru());

  it("accepts a noeviction Redis", async () => {
    const redis = createRedis(testRedisUrl(), "producer");
    await waitForRedis(redis);
    await expect(assertNoEviction(redis)).resolves.toBeUndefined();
    redis.disconnect();
  });

  it("connects to the server a REDIS_URL target names (what services get from redisTargetFrom)", async () => {
    const redis = createRedis(redisTargetFrom({ REDIS_URL: testRedisUrl() }), "worker");
    await waitForRedis(redis, 5_000);
    expect(await redis.ping()).toBe("PONG");
    redis.disconnect();
  });

  it("refuses an evicting Redis with a message that says how to fix it", async () => {
    const redis = createRedis(`redis://127.0.0.1:${lruPort}`, "worker");
    await waitForRedis(redis);
    const err = await assertNoEviction(redis).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisPolicyError);
    expect((err as Error).message).toMatch(/maxmemory-policy is "allkeys-lru".*CONFIG SET maxmemory-policy noeviction/);
    redis.disconnect();
  });

  it("fails a producer's command fast when Redis is down, instead of queueing it", async () => {
    const port = await freePort(); // nothing listens there
    const redis = createRedis(`redis://127.0.0.1:${port}`, "producer");
    const t0 = performance.now();
    await expect(redis.set("k", "v")).rejects.toThrow();
    expect(performance.now() - t0).toBeLessThan(100);
    redis.disconnect();
  });
});
