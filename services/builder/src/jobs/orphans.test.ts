import { createLogger, JobQueues, Records } from "@hoist/shared";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { sweepOrphanedBuilds } from "./orphans.js";

const redis = testRedis("worker");
let prefix: string;
let records: Records;
let queues: JobQueues;
const log = createLogger({ service: "orphans-test", level: "silent" });

beforeEach(() => {
  prefix = uniquePrefix("orph");
  records = new Records(redis, prefix);
  queues = new JobQueues(redis, prefix);
});
afterEach(async () => {
  await queues.close();
  await deletePrefix(redis, prefix);
});
afterAll(async () => {
  await redis.quit();
});

const input = (sha: string) => ({ app: "web", ref: "main", sha: sha.repeat(40), trigger: "push" as const });
const once = (n: number) => ({ key: `${prefix}:once:${n}`, ttlMs: 60_000, openIndex: `${prefix}:open` });

describe("orphaned-build sweep", () => {
  it("stores the job of an accepted build left queued without one, once, and settles every accepted build", async () => {
    // As a webhook whose API process died after its first write leaves it: record, no job.
    const orphan = await records.builds.createOnce(input("a"), once(1));
    // A normal one: record and job.
    const normal = await records.builds.createOnce(input("b"), once(2));
    if (!orphan.created || !normal.created) throw new Error("expected fresh keys");
    await queues.enqueue("build", { kind: "build", buildId: normal.build.id });
    // One that already ran (its job may be gone by now).
    const done = await records.builds.create(input("c"));
    await records.builds.transition(done.id, ["queued"], { status: "running" });
    await records.builds.transition(done.id, ["running"], { status: "succeeded", finishedAt: new Date().toISOString() });

    // Too young: a request may still be storing its job.
    expect(await sweepOrphanedBuilds({ redis, prefix, records, queues, log })).toEqual([]);
    expect(await records.builds.acceptedBefore(Date.now() + 1)).toHaveLength(3);

    const requeued = await sweepOrphanedBuilds({ redis, prefix, records, queues, log }, Date.now() + 60_000);
    expect(requeued).toEqual([orphan.build.id]);
    expect((await queues.queue("build").getJob(orphan.build.id))?.data).toEqual({ kind: "build", buildId: orphan.build.id });
    expect(await queues.queue("build").getJobCounts("waiting")).toEqual({ waiting: 2 });
    expect(await records.builds.acceptedBefore(Date.now() + 60_000)).toEqual([]);
    // Settled: a second sweep does nothing.
    expect(await sweepOrphanedBuilds({ redis, prefix, records, queues, log }, Date.now() + 120_000)).toEqual([]);
  });
});
