import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../logging/logger.js";
import { JobQueues } from "../queues/producer.js";
import { createWorker } from "../queues/worker.js";
import { deletePrefix, testRedis, uniquePrefix } from "../testing/index.js";
import { ShutdownRegistry } from "./shutdown.js";

const log = createLogger({ service: "test", level: "silent" });

describe("shutdown registry", () => {
  it("closes newest first, then exits 128+signal", async () => {
    const order: string[] = [];
    const exits: number[] = [];
    const reg = new ShutdownRegistry(log, 1_000, (code) => exits.push(code));
    reg.register("redis", () => void order.push("redis"));
    reg.register("worker", async () => void order.push("worker"));
    await reg.trigger("SIGTERM");
    expect(order).toEqual(["worker", "redis"]);
    expect(exits).toEqual([143]);
  });

  it("keeps going past a failing closer, and exits within its bound when one hangs", async () => {
    const exits: number[] = [];
    const reg = new ShutdownRegistry(log, 200, (code) => exits.push(code));
    let laterRan = false;
    reg.register("later", () => {
      laterRan = true;
    });
    reg.register("hangs", () => new Promise(() => {}));
    reg.register("throws", () => {
      throw new Error("boom");
    });
    const t0 = performance.now();
    await reg.trigger("SIGINT");
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(exits).toEqual([130]);
    expect(laterRan).toBe(false);
  });

  describe("with a worker", () => {
    let redis: Redis;
    let prefix: string;
    afterEach(async () => {
      await deletePrefix(redis, prefix);
      await redis.quit();
    });

    it("waits for an active job to finish before exiting", async () => {
      redis = testRedis();
      prefix = uniquePrefix("shutdown");
      const queues = new JobQueues(redis, prefix);
      let release: () => void = () => {};
      let started: () => void = () => {};
      const startedP = new Promise<void>((r) => (started = r));
      const events: string[] = [];
      const worker = createWorker({
        queue: "build",
        connection: redis,
        prefix,
        concurrency: 1,
        log,
        handlers: {
          build: async () => {
            started();
            await new Promise<void>((r) => (release = r));
            events.push("job finished");
          },
        },
      });
      const reg = new ShutdownRegistry(log, 10_000, (code) => events.push(`exit ${code}`));
      reg.register("worker", () => worker.close());
      await queues.enqueue("build", { kind: "build", buildId: "bld_slow" });
      await startedP;
      const done = reg.trigger("SIGTERM");
      // The job is still running: nothing may have exited yet.
      await new Promise((r) => setImmediate(r));
      expect(events).toEqual([]);
      release();
      await done;
      expect(events).toEqual(["job finished", "exit 143"]);
      const job = await queues.queue("build").getJob("bld_slow");
      expect(await job?.getState()).toBe("completed");
      await queues.close();
    });
  });
});
