import { Queue, QueueEvents, type Worker } from "bullmq";
import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../logging/logger.js";
import { deletePrefix, nextEvent, testRedis, uniquePrefix } from "../testing/index.js";
import { buildQueue } from "./build.js";
import { PermanentError } from "./permanent.js";
import { previewsQueue } from "./previews.js";
import { JobQueues, PayloadError } from "./producer.js";
import { createWorker } from "./worker.js";

const log = createLogger({ service: "test", level: "silent" });

describe("job catalog over real Redis", () => {
  let redis: Redis;
  let prefix: string;
  let queues: JobQueues;
  const closers: (() => Promise<unknown>)[] = [];

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix("queues");
    queues = new JobQueues(redis, prefix);
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await queues.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  function worker(handlers: Parameters<typeof createWorker<"build">>[0]["handlers"]): Worker {
    const w = createWorker({ queue: "build", connection: redis, prefix, concurrency: 1, log, handlers });
    closers.push(() => w.close());
    return w;
  }

  it("round-trips a typed job through enqueue and a worker", async () => {
    const seen: unknown[] = [];
    const w = worker({
      build: async (payload, ctx) => {
        seen.push(payload);
        expect(ctx.job.id).toBe(payload.buildId);
        return { built: payload.buildId };
      },
    });
    const done = nextEvent<[{ id?: string; returnvalue: unknown }]>(w, "completed");
    const job = await queues.enqueue("build", { kind: "build", buildId: "bld_1" });
    expect(job.id).toBe("bld_1");
    expect(job.opts.attempts).toBe(buildQueue.jobOptions.attempts);
    const [completed] = await done;
    expect(completed.returnvalue).toEqual({ built: "bld_1" });
    expect(seen).toEqual([{ kind: "build", buildId: "bld_1" }]);
  });

  it("enqueues the same unit of work once", async () => {
    await queues.enqueue("build", { kind: "build", buildId: "bld_same" });
    await queues.enqueue("build", { kind: "build", buildId: "bld_same" });
    expect(await queues.queue("build").getJobCounts("waiting")).toEqual({ waiting: 1 });
  });

  it("previews: one job per MR commit and one per teardown request, with the queue's retry defaults", async () => {
    const open = {
      kind: "open" as const,
      app: "web",
      iid: 42,
      sha: "a".repeat(40),
      sourceBranch: "feature/x",
      authorId: 7,
      fork: false,
      deliveryId: "d1",
    };
    const job = await queues.enqueue("previews", open);
    expect(job.id).toBe(`open.web.42.${"a".repeat(40)}`);
    expect(job.opts.attempts).toBe(previewsQueue.jobOptions.attempts);
    // A resend (another delivery id) naming the same commit is the same job.
    await queues.enqueue("previews", { ...open, deliveryId: "d2" });
    const close = await queues.enqueue("previews", { kind: "close", app: "web", iid: 42, reason: "merged", deliveryId: "d3" });
    expect(close.id).toBe("close.web.42.d3");
    expect(await queues.queue("previews").getJobCounts("waiting")).toEqual({ waiting: 2 });
    await expect(
      queues.enqueue("previews", { kind: "close", app: "web", iid: 42, reason: "bored", deliveryId: "d4" } as never),
    ).rejects.toThrow(/reason is one of closed, merged, deleted, idle, limit/);
    await expect(queues.enqueue("previews", { ...open, iid: 0 })).rejects.toThrow(/iid/);
  });

  it("refuses a malformed payload at enqueue, naming the field", async () => {
    const bad = { kind: "build", buildId: "has spaces!" } as never;
    await expect(queues.enqueue("build", bad)).rejects.toThrow(PayloadError);
    await expect(queues.enqueue("build", bad)).rejects.toThrow(/buildId/);
    await expect(queues.enqueue("build", { kind: "build" } as never)).rejects.toThrow(/buildId/);
    expect(await queues.queue("build").count()).toBe(0);
  });

  it("fails a hand-made malformed job as unrecoverable with the zod message, without retrying", async () => {
    let called = false;
    const w = worker({
      build: async () => {
        called = true;
      },
    });
    const failed = nextEvent<[{ id?: string; failedReason: string; attemptsMade: number } | undefined, Error]>(w, "failed");
    const raw = new Queue("build", { connection: redis, prefix });
    closers.push(() => raw.close());
    await raw.add("build", { kind: "build", buildId: 42, extra: true }, { attempts: 5, jobId: "hand-made" });
    const [job, err] = await failed;
    expect(err.name).toBe("UnrecoverableError");
    expect(job?.failedReason).toMatch(/^invalid build job payload: /);
    expect(job?.failedReason).toMatch(/buildId/);
    expect(job?.attemptsMade).toBe(1);
    expect(called).toBe(false);
    const stored = await raw.getJob("hand-made");
    expect(await stored?.getState()).toBe("failed");
  });

  it("fails a job whose handler throws a PermanentError (or a subclass) at once, and retries any other error", async () => {
    class GoneError extends PermanentError {}
    const tries = new Map<string, number>();
    const w = worker({
      build: async (payload) => {
        tries.set(payload.buildId, (tries.get(payload.buildId) ?? 0) + 1);
        if (payload.buildId === "bld_gone") throw new GoneError("the build's app is gone");
        throw Object.assign(new Error("registry away"), { permanent: true });
      },
    });
    const failures = new Map<string, { name: string; attemptsMade: number; reason: string }>();
    const both = new Promise<void>((resolve) => {
      w.on("failed", (job, err) => {
        if (!job) return;
        const final = err.name === "UnrecoverableError" || job.attemptsMade >= 2;
        if (final) failures.set(job.id ?? "", { name: err.name, attemptsMade: job.attemptsMade, reason: job.failedReason });
        if (failures.size === 2) resolve();
      });
    });
    await queues.enqueue("build", { kind: "build", buildId: "bld_gone" }, { attempts: 2, backoff: { type: "fixed", delay: 10 } });
    await queues.enqueue("build", { kind: "build", buildId: "bld_flaky" }, { attempts: 2, backoff: { type: "fixed", delay: 10 } });
    await both;
    expect(failures.get("bld_gone")).toEqual({ name: "UnrecoverableError", attemptsMade: 1, reason: "the build's app is gone" });
    // Only the one class is permanent: an error that merely says so is retried like any other.
    expect(failures.get("bld_flaky")?.attemptsMade).toBe(2);
    expect(tries).toEqual(
      new Map([
        ["bld_gone", 1],
        ["bld_flaky", 2],
      ]),
    );
  });

  it("routes notify jobs by destination kind", async () => {
    const calls: string[] = [];
    const w = createWorker({
      queue: "notify",
      connection: redis,
      prefix,
      concurrency: 3,
      log,
      handlers: {
        slack: async (p) => void calls.push(`slack:${p.event}`),
        "gitlab-status": async (p) => void calls.push(`gitlab:${p.event}`),
        webhook: async (p) => void calls.push(`webhook:${p.event}`),
      },
    });
    closers.push(() => w.close());
    const events = new QueueEvents("notify", { connection: redis, prefix });
    closers.push(() => events.close());
    await events.waitUntilReady();
    const jobs = await Promise.all(
      (["slack", "gitlab-status", "webhook"] as const).map((kind) =>
        queues.enqueue("notify", { kind, event: "release.live", buildId: "bld_1", releaseId: "rel_1" }),
      ),
    );
    expect(jobs.map((j) => j.id)).toEqual(["slack.release.live.rel_1", "gitlab-status.release.live.rel_1", "webhook.release.live.rel_1"]);
    await Promise.all(jobs.map((j) => j.waitUntilFinished(events, 10_000)));
    expect(calls.sort()).toEqual(["gitlab:release.live", "slack:release.live", "webhook:release.live"]);
  });
});
