import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logging/logger.js";
import { deletePrefix, testRedis, uniquePrefix } from "../testing/index.js";
import { DependencyMonitor, dependencyReportsKey, readDependencyReports } from "./dependencies.js";

const log = createLogger({ service: "test", level: "silent" });

describe("dependency monitor", () => {
  let redis: Redis | undefined;
  let prefix = "";
  afterEach(async () => {
    if (redis) {
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
    redis = undefined;
  });

  it("says which dependency is down and why, publishes it for the dashboard, and recovers", async () => {
    redis = testRedis();
    prefix = uniquePrefix("deps");
    let up = false;
    const monitor = new DependencyMonitor(
      [
        {
          name: "docker",
          where: "/run/podman/podman.sock",
          check: async () => {
            if (!up) throw Object.assign(new Error("connect ENOENT /run/podman/podman.sock"), { code: "ENOENT" });
          },
        },
      ],
      { service: "builder", log, intervalMs: 60_000, redis, prefix },
    );
    await monitor.start();
    expect(monitor.downReason()).toBe("docker unreachable at /run/podman/podman.sock: connect ENOENT /run/podman/podman.sock");
    const [report] = await readDependencyReports(redis, prefix);
    expect(report).toMatchObject({ service: "builder", dependencies: [{ name: "docker", ok: false }] });

    up = true;
    await monitor.probeAll();
    expect(monitor.downReason()).toBeUndefined();
    expect((await readDependencyReports(redis, prefix))[0]?.dependencies[0]?.ok).toBe(true);

    // A stopped worker takes its report away.
    await monitor.stop();
    expect(await readDependencyReports(redis, prefix)).toEqual([]);
  });

  it("drops reports of processes that stopped writing them", async () => {
    redis = testRedis();
    prefix = uniquePrefix("deps-stale");
    const old = {
      service: "builder",
      instance: "gone:1",
      at: new Date(Date.now() - 60_000).toISOString(),
      staleAfterMs: 15_000,
      dependencies: [],
    };
    await redis.hset(dependencyReportsKey(prefix), "builder@gone:1", JSON.stringify(old));
    expect(await readDependencyReports(redis, prefix)).toEqual([]);
    expect(await redis.hlen(dependencyReportsKey(prefix))).toBe(0);
  });
});
