import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JobQueues } from "../../queues/producer.js";
import { deletePrefix, testRedis, uniquePrefix } from "../../testing/index.js";
import { encodeFields } from "../codec.js";
import { Records } from "../repos.js";
import type { BuildStatus, ReleaseStatus } from "../schemas.js";
import { buildStatuses, releaseStatuses } from "../schemas.js";
import { BuildLifecycle } from "./builds.js";
import { NotifyOutbox } from "./outbox.js";
import { ReleaseLifecycle } from "./releases.js";
import { lifecycleScripts, scriptContext } from "./scripts.js";
import { assertMove, canMove, IllegalTransitionError, type RecordKind } from "./table.js";

const sha = (c: string) => c.repeat(40);

/** Moves no lifecycle may make, whatever the table says: each would undo a finished outcome. */
const illegal: [RecordKind, string, string][] = [
  ["build", "succeeded", "running"],
  ["build", "failed", "succeeded"],
  ["build", "canceled", "running"],
  ["build", "queued", "succeeded"],
  ["release", "live", "deploying"],
  ["release", "retired", "live"],
  ["release", "failed", "live"],
  ["release", "pending", "live"],
];

describe("record lifecycles over real Redis", () => {
  let redis: Redis;
  let prefix: string;
  let records: Records;
  let queues: JobQueues;

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix("lifecycle");
    records = new Records(redis, prefix);
    queues = new JobQueues(redis, prefix);
  });
  afterEach(async () => {
    await queues.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const newApp = (name: string, gitlab = true) =>
    records.apps.create({
      name,
      branch: "main",
      repo: { sshUrl: `git@gitlab.example.com:group/${name}.git` },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
      ...(gitlab ? { gitlab: { connectionId: "glc_1", projectId: 7 } } : {}),
    });
  /** A queued build; its build.pending entry (which `create` leaves to the drainer) is dropped, so each test sees only its own. */
  const newBuild = async () => {
    const build = await records.builds.create({ app: "web", ref: "refs/heads/main", sha: sha("b"), trigger: "push" });
    await redis.del(records.keys.notifyOutbox);
    return build;
  };
  const notifyJobIds = async () => (await queues.queue("notify").getJobs(["waiting", "delayed", "prioritized"])).map((j) => j.id).sort();
  const outboxSize = () => redis.zcard(records.keys.notifyOutbox);

  /** Runs the transition script itself, with a `from` the TypeScript check would have refused. */
  const luaMove = async (kind: RecordKind, id: string, from: string, to: string) => {
    const key = kind === "build" ? records.keys.build(id) : records.keys.release(id);
    await redis.hset(key, ...encodeFields({ status: from }));
    const [code] = await lifecycleScripts(redis).move(
      [key, records.keys.notifyOutbox, key],
      scriptContext(records.keys),
      JSON.stringify({ kind, id, to, from: [from], set: [] }),
    );
    return { moved: code === 1, status: JSON.parse((await redis.hget(key, "status")) ?? "null") as string };
  };

  it("refuses an illegal transition in TypeScript and inside the script, and allows exactly the table's", async () => {
    await newApp("web");
    const build = await newBuild();
    const release = await records.releases.create({ app: "web", buildId: build.id, images: [] });
    for (const [kind, from, to] of illegal) {
      const id = kind === "build" ? build.id : release.id;
      expect(() => assertMove(kind, [from as never], to as never), `${kind} ${from} → ${to}`).toThrow(IllegalTransitionError);
      expect(await luaMove(kind, id, from, to), `${kind} ${from} → ${to} in Lua`).toEqual({ moved: false, status: from });
    }
    // Every pair of statuses: the script agrees with the TypeScript table.
    const pairs = (kind: RecordKind, statuses: readonly string[]) => statuses.flatMap((f) => statuses.map((t) => [kind, f, t] as const));
    for (const [kind, from, to] of [...pairs("build", buildStatuses), ...pairs("release", releaseStatuses)]) {
      const id = kind === "build" ? build.id : release.id;
      const allowed = canMove(kind, from as BuildStatus & ReleaseStatus, to as BuildStatus & ReleaseStatus);
      expect((await luaMove(kind, id, from, to)).moved, `${kind} ${from} → ${to}`).toBe(allowed);
    }
    await expect(records.builds.transition(build.id, ["succeeded"], { status: "running" })).rejects.toThrow(IllegalTransitionError);
  });

  it("stores a transition and its notify jobs together: refused, neither; moved, both", async () => {
    await newApp("web");
    const created = await records.builds.createWithEvents({ app: "web", ref: "refs/heads/main", sha: sha("a"), trigger: "push" });
    expect(created.outbox.map((m) => JSON.parse(m))).toEqual([
      { kind: "gitlab-status", event: "build.pending", buildId: created.build.id, app: "web" },
    ]);
    const build = await newBuild();
    const lifecycle = new BuildLifecycle(records, queues);
    expect(await lifecycle.succeed(build.id, { releaseId: "rel_x", images: [] })).toMatchObject({ ok: false, reason: "state" });
    expect([await outboxSize(), await notifyJobIds()]).toEqual([0, []]);

    // The queue is unreachable right after the script ran (a crash between the two): the status and
    // its notify jobs are both stored, the jobs waiting in the outbox.
    const dead = new JobQueues(redis, prefix);
    dead.queue("notify").add = () => Promise.reject(new Error("connection lost"));
    dead.queue("notify").addBulk = () => Promise.reject(new Error("connection lost"));
    await expect(new BuildLifecycle(records, dead).start(build.id)).rejects.toThrow("connection lost");
    expect(await records.builds.require(build.id)).toMatchObject({ status: "running" });
    expect(await outboxSize()).toBe(1);
    expect(await notifyJobIds()).toEqual([]);

    // Young entries are left to their transition; the drainer sends the ones left behind, once.
    const outbox = new NotifyOutbox(redis, records.keys, queues);
    expect(await outbox.drain()).toBe(0);
    expect(await outbox.drain(0)).toBe(1);
    expect(await notifyJobIds()).toEqual([`gitlab-status.build.running.${build.id}`]);
    expect(await outboxSize()).toBe(0);
    await dead.close();
  });

  it("sends a transition's events at once, with the same job ids as before, to the app's destinations only", async () => {
    await newApp("web", false);
    const build = await newBuild();
    const lifecycle = new BuildLifecycle(records, queues);
    await lifecycle.start(build.id);
    // Neither GitLab nor a webhook is set up: build.running goes nowhere.
    expect(await notifyJobIds()).toEqual([]);
    await lifecycle.cancel(build.id, "user");
    // A cancel carries the app: only Slack (its own settings are the notifier's to check).
    expect(await notifyJobIds()).toEqual([`slack.build.canceled.${build.id}`]);
    expect((await queues.queue("notify").getJob(`slack.build.canceled.${build.id}`))?.data).toEqual({
      kind: "slack",
      event: "build.canceled",
      buildId: build.id,
      app: "web",
    });
    expect(await outboxSize()).toBe(0);
  });

  it("fences release transitions by the lock's token and emits live and rolled_back in one step", async () => {
    await newApp("web");
    const build = await newBuild();
    const releases = new ReleaseLifecycle(records, queues);
    const lock = { key: records.keys.deployLock("web"), token: "7" };
    await redis.set(lock.key, "7");
    const r1 = await records.releases.create({ app: "web", buildId: build.id, images: [] });
    expect(await releases.begin(r1, lock)).toEqual({ kind: "deploying" });
    await releases.goLive(r1, lock);
    const r2 = await records.releases.create({ app: "web", buildId: build.id, images: [], rollbackOf: r1.id });
    await releases.begin(r2, lock);
    await redis.set(lock.key, "8");
    await expect(releases.goLive(r2, lock)).rejects.toThrow(/lost the deploy lock/);
    expect((await records.releases.require(r2.id)).status).toBe("deploying");
    await redis.set(lock.key, "7");
    expect(await releases.goLive(r2, lock)).toEqual({ replaced: r1.id, rolledBack: true });
    expect((await records.releases.require(r1.id)).status).toBe("rolled_back");
    expect(await notifyJobIds()).toEqual(
      [
        `gitlab-status.release.deploying.${r1.id}`,
        `gitlab-status.release.deploying.${r2.id}`,
        `gitlab-status.release.live.${r1.id}`,
        `gitlab-status.release.live.${r2.id}`,
        `gitlab-status.release.rolled_back.${r1.id}`,
        `slack.release.live.${r1.id}`,
        `slack.release.live.${r2.id}`,
        `slack.release.rolled_back.${r1.id}`,
      ].sort(),
    );
  });

  it("keeps each environment's releases apart: its own lock, supersede order and live release; events name the environment", async () => {
    const app = await newApp("web");
    await records.environments.create(app, { name: "staging", target: { kind: "local", services: {} } });
    const build = await newBuild();
    const releases = new ReleaseLifecycle(records, queues);
    const prodLock = { key: records.keys.deployLock("web"), token: "1" };
    const stagingLock = { key: records.keys.deployLock("web@staging"), token: "1" };
    await redis.set(prodLock.key, "1");
    await redis.set(stagingLock.key, "1");
    const p1 = await records.releases.create({ app: "web", buildId: build.id, images: [] });
    // As an older Hoist stored it: no environment field (its events say production).
    await redis.hdel(records.keys.release(p1.id), "environment");
    const s1 = await records.releases.create({ app: "web", environment: "staging", buildId: build.id, images: [] });
    const s2 = await records.releases.create({ app: "web", environment: "staging", buildId: build.id, images: [] });
    // Staging's release 2 going live supersedes staging's release 1, never production's release 1.
    expect(await releases.begin(s2, stagingLock)).toEqual({ kind: "deploying" });
    await releases.goLive(s2, stagingLock);
    expect(await releases.begin(p1, prodLock)).toEqual({ kind: "deploying" });
    expect(await releases.goLive(p1, prodLock)).toEqual({ rolledBack: false });
    expect(await releases.begin(s1, stagingLock)).toEqual({ kind: "superseded", by: s2.id });
    expect(await redis.get(records.keys.liveRelease("web"))).toBe(p1.id);
    expect(await redis.get(records.keys.liveRelease("web@staging"))).toBe(s2.id);
    const live = await queues.queue("notify").getJob(`slack.release.live.${s2.id}`);
    expect(live?.data).toEqual({
      kind: "slack",
      event: "release.live",
      buildId: build.id,
      releaseId: s2.id,
      app: "web",
      environment: "staging",
    });
    expect((await queues.queue("notify").getJob(`slack.release.live.${p1.id}`))?.data).toMatchObject({ environment: "production" });

    // Staging moves on to another build: its replaced release expires, but the build stays kept
    // while production's live release runs it.
    const other = await newBuild();
    const s3 = await records.releases.create({ app: "web", environment: "staging", buildId: other.id, images: [] });
    await releases.begin(s3, stagingLock);
    expect(await releases.goLive(s3, stagingLock)).toEqual({ replaced: s2.id, rolledBack: false });
    expect(await redis.pttl(records.keys.release(s2.id))).toBeGreaterThan(0);
    expect(await redis.pttl(records.keys.build(build.id))).toBe(-1);
    expect(await redis.pttl(records.keys.release(s3.id))).toBe(-1);
    expect(await redis.pttl(records.keys.build(other.id))).toBe(-1);

    // And once more: the build staging ran before, live nowhere else now, expires with its release (and logs).
    const third = await newBuild();
    const s4 = await records.releases.create({ app: "web", environment: "staging", buildId: third.id, images: [] });
    await redis.xadd(`${records.keys.build(other.id)}:log`, "*", "l", "built");
    await releases.begin(s4, stagingLock);
    expect(await releases.goLive(s4, stagingLock)).toEqual({ replaced: s3.id, rolledBack: false });
    const day = 86_400_000;
    for (const k of [records.keys.release(s3.id), records.keys.build(other.id), `${records.keys.build(other.id)}:log`]) {
      expect(await redis.pttl(k)).toBeGreaterThan(29 * day);
    }
    for (const k of [records.keys.release(s4.id), records.keys.build(third.id), records.keys.build(build.id)])
      expect(await redis.pttl(k)).toBe(-1);
  });
});
