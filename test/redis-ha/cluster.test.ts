import { randomUUID } from "node:crypto";
import {
  assertNoEviction,
  BuildLifecycle,
  commonEnvSchema,
  createLogger,
  createRedis,
  createWorker,
  JobQueues,
  keySlot,
  parseEnv,
  Records,
  type Redis,
  RedisAuthError,
  RedisPolicyError,
  redisTargetFrom,
  tryAcquireAppLock,
  waitForRedis,
} from "@hoist/shared";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asServiceUser } from "../support/redis-acl.js";
import { RedisClusterSet } from "../support/redis-cluster.js";

const log = createLogger({ service: "cluster-test", level: "silent" });
const sha = (c: string) => c.repeat(40);

/**
 * bullmq #906: on a Redis Cluster, BullMQ's scripts (and any multi-key script) fail with
 * CROSSSLOT unless every key they touch hashes to one slot. Hoist's HOIST_QUEUE_PREFIX must be one
 * hash tag there (`{hoist}`), which puts every queue, record, index, outbox and lock key in the
 * slot of its tag. On a real cluster (three masters with a replica each, `redis-cli --cluster
 * create`), as the services' own ACL users.
 */
describe("Redis Cluster: CROSSSLOT (bullmq #906)", () => {
  const cluster = new RedisClusterSet();
  const closers: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    await cluster.start();
  }, 90_000);
  afterAll(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await cluster.remove();
  });

  /** A client of the cluster as `service`'s user, as that service connects with REDIS_CLUSTER_NODES. */
  async function connect(service: string, role: "producer" | "worker", prefix: string): Promise<Redis> {
    const env = parseEnv(commonEnvSchema, {
      REDIS_URL: asServiceUser(service, cluster.adminUrl),
      REDIS_CLUSTER_NODES: cluster.nodeList,
      HOIST_QUEUE_PREFIX: prefix,
    });
    const redis = createRedis(redisTargetFrom(env), role, `cluster-test-${service}`);
    closers.push(() => redis.disconnect());
    await waitForRedis(redis, 10_000);
    return redis;
  }

  it("CROSSSLOT (bullmq #906): an untagged prefix splits a BullMQ script's keys over slots, so Hoist refuses it on a cluster", async () => {
    // What BullMQ does on a cluster with a plain prefix: its add script's keys land in several slots.
    const plain = `plain-${randomUUID().slice(0, 8)}`;
    const admin = await connect("admin", "producer", `{${plain}}`);
    const queue = new Queue("build", { connection: admin, prefix: plain });
    queue.on("error", () => {});
    closers.push(() => queue.close());
    await expect(queue.add("build", { kind: "build", buildId: "bld_1" })).rejects.toThrow(/CROSSSLOT/);

    // Hoist does not start that way: the services' config says what to set instead.
    const env = parseEnv(commonEnvSchema, { REDIS_CLUSTER_NODES: cluster.nodeList, HOIST_QUEUE_PREFIX: "hoist" });
    expect(() => redisTargetFrom(env)).toThrow(
      /^config: HOIST_QUEUE_PREFIX is invalid: "hoist" on a Redis Cluster must be one hash tag in braces, e.g. \{hoist\}/,
    );
  });

  it("CROSSSLOT (bullmq #906): with a {tagged} prefix, jobs and the record scripts run on the cluster as the services' users, every key in one slot", async () => {
    const prefix = `{crossslot-${randomUUID().slice(0, 8)}}`;
    const api = await connect("api", "producer", prefix);
    const builder = await connect("builder", "worker", prefix);
    const deployer = await connect("deployer", "worker", prefix);

    // The API: an app, a build with its events (record scripts with indexes and the outbox), its job.
    const apiRecords = new Records(api, prefix);
    const apiQueues = new JobQueues(api, prefix);
    closers.push(() => apiQueues.close());
    await apiRecords.apps.create({
      name: "web",
      branch: "main",
      repo: { sshUrl: "git@gitlab.example.com:group/web.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
      hookId: "hkweb",
      gitlab: { connectionId: "glc_1", projectId: 7 },
    });
    const { build } = await apiRecords.builds.createWithEvents({ app: "web", ref: "refs/heads/main", sha: sha("a"), trigger: "push" });
    await apiQueues.enqueue("build", { kind: "build", buildId: build.id });

    // The builder takes the job (BullMQ's fetch and finish scripts) and moves the build through its
    // lifecycle (the transition script with the outbox, the notify queue).
    const records = new Records(builder, prefix);
    const queues = new JobQueues(builder, prefix);
    closers.push(() => queues.close());
    const lifecycle = new BuildLifecycle(records, queues);
    const done = new Promise<[string, string]>((resolve, reject) => {
      const worker = createWorker({
        queue: "build",
        connection: builder,
        prefix,
        concurrency: 1,
        log,
        handlers: {
          build: async (payload) => {
            await lifecycle.start(payload.buildId);
            const release = await records.releases.create({ app: "web", buildId: payload.buildId, images: [] });
            await lifecycle.succeed(payload.buildId, { releaseId: release.id, images: [] });
            return { releaseId: release.id };
          },
        },
      });
      closers.push(() => worker.close());
      worker.on("completed", (job, result: { releaseId: string }) => resolve([job.id as string, result.releaseId]));
      worker.on("failed", (_job, err) => reject(err));
    });
    const [jobId, releaseId] = await done;
    expect(jobId).toBe(build.id);
    expect(await apiRecords.builds.require(build.id)).toMatchObject({ status: "succeeded" });
    // The notify jobs of its statuses, moved from the outbox onto the notify queue.
    const notify = (await apiQueues.queue("notify").getJobs(["waiting"])).map((j) => j.id);
    expect(notify).toEqual(
      expect.arrayContaining([`gitlab-status.build.running.${build.id}`, `gitlab-status.build.succeeded.${releaseId}`]),
    );

    // The deployer's per-app lock (lock, fence and waiters in one script).
    const lock = await tryAcquireAppLock(deployer, prefix, "web", 5_000);
    expect(lock).toBeDefined();
    await lock?.release();

    // Every key written is in the prefix's slot.
    const slots = new Set<number>();
    const admin = cluster.adminOn(cluster.ports[0] as number);
    closers.push(() => admin.disconnect());
    let keys = 0;
    for (const shard of await cluster.shards()) {
      const node = cluster.adminOn(shard.master);
      const found = (await node.keys(`${prefix.replace(/[[\]*?\\]/g, "\\$&")}:*`)) as string[];
      node.disconnect();
      for (const k of found) slots.add((await admin.call("CLUSTER", "KEYSLOT", k)) as number);
      keys += found.length;
    }
    expect(keys).toBeGreaterThan(10);
    expect([...slots]).toEqual([(await admin.call("CLUSTER", "KEYSLOT", prefix)) as number]);
  });
  it("refuses a wrong password on a cluster at once, naming the user, and an evicting master by its address", async () => {
    const wrong = new URL(asServiceUser("api", cluster.adminUrl));
    wrong.password = "not-the-password-0123456789";
    const target = redisTargetFrom(
      parseEnv(commonEnvSchema, { REDIS_URL: wrong.toString(), REDIS_CLUSTER_NODES: cluster.nodeList, HOIST_QUEUE_PREFIX: "{x}" }),
    );
    const refused = createRedis(target, "producer", "cluster-test-wrong");
    closers.push(() => refused.disconnect());
    const t0 = Date.now();
    const err = await waitForRedis(refused, 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisAuthError);
    expect((err as Error).message).toMatch(/^Redis refused user "hoist-api" with the password in REDIS_URL/);
    expect((err as Error).message).not.toContain("not-the-password");
    expect(Date.now() - t0).toBeLessThan(5_000);

    // Every master must be noeviction: one that is not is named.
    const api = await connect("api", "producer", "{x}");
    await expect(assertNoEviction(api)).resolves.toBeUndefined();
    const master = (await cluster.shards())[1]?.master as number;
    const node = cluster.adminOn(master);
    closers.push(() => node.disconnect());
    await node.config("SET", "maxmemory-policy", "allkeys-lru");
    try {
      const policy = await assertNoEviction(api).catch((e: unknown) => e);
      expect(policy).toBeInstanceOf(RedisPolicyError);
      expect((policy as Error).message).toContain(`"allkeys-lru" on cluster node 127.0.0.1:${master}`);
    } finally {
      await node.config("SET", "maxmemory-policy", "noeviction");
    }
  });
  it("computes a key's slot as the cluster does (ClusterFailoverWatch watches the master of HOIST_QUEUE_PREFIX's slot)", async () => {
    const admin = cluster.adminOn(cluster.ports[0] as number);
    closers.push(() => admin.disconnect());
    for (const key of [
      "hoist",
      "{hoist}",
      "{hoist}:rec:apps",
      "{test-e2e-78e90fe09d}",
      "a{}b",
      "{}x",
      "x{y}z{w}",
      "ünïcode",
      "{cl-1a2b3c4d}:build:wait",
    ])
      expect(keySlot(key), key).toBe((await admin.call("CLUSTER", "KEYSLOT", key)) as number);
  });
});
