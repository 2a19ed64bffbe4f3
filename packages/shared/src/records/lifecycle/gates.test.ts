import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JobQueues } from "../../queues/producer.js";
import { deletePrefix, testRedis, uniquePrefix } from "../../testing/index.js";
import { Records } from "../repos.js";
import { ReleaseGates } from "./gates.js";

describe("a release's gates over real Redis: approvals, rejection, freezes, deploy-now", () => {
  let redis: Redis;
  let prefix: string;
  let records: Records;
  let queues: JobQueues;
  let gates: ReleaseGates;

  beforeEach(async () => {
    redis = testRedis();
    prefix = uniquePrefix("gates");
    records = new Records(redis, prefix);
    queues = new JobQueues(redis, prefix);
    gates = new ReleaseGates(records, queues);
    await records.apps.create({
      name: "web",
      branch: "main",
      repo: { sshUrl: "git@gitlab.example.com:group/web.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
      gitlab: { connectionId: "glc_1", projectId: 7 },
    });
  });
  afterEach(async () => {
    await queues.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const newRelease = async (extra: Record<string, unknown> = {}) => {
    const build = await records.builds.create({ app: "web", ref: "refs/heads/main", sha: "b".repeat(40), trigger: "push" });
    const release = await records.releases.create({ app: "web", buildId: build.id, images: [], ...extra });
    await redis.del(records.keys.notifyOutbox);
    return release;
  };
  const notifyJobs = async () =>
    (await queues.queue("notify").getJobs(["waiting", "delayed", "prioritized"]))
      .map((j) => ({ id: j.id, environment: j.data.environment }))
      .sort((a, b) => String(a.id).localeCompare(String(b.id)));
  const ada = { by: "user:1", name: "ada", via: "api" as const };
  const bob = { by: "user:2", name: "bob", via: "slack" as const };

  it("holds for approvals; one person counts once however often; the second person's approval says release.approved", async () => {
    const r = await newRelease();
    expect(await gates.hold(r, "awaiting_approval", { requiredApprovals: 2 })).toEqual({
      kind: "held",
      status: "awaiting_approval",
      superseded: [],
    });
    // Held again (the job ran twice): nothing changes, nothing is sent twice.
    expect(await gates.hold(r, "awaiting_approval", { requiredApprovals: 2 })).toEqual({ kind: "state", status: "awaiting_approval" });
    expect((await notifyJobs()).map((j) => j.id)).toEqual([
      `gitlab-status.release.awaiting_approval.${r.id}`,
      `slack.release.awaiting_approval.${r.id}`,
    ]);
    expect((await notifyJobs())[0]?.environment).toBe("production");

    expect(await gates.approve(r.id, ada)).toEqual({ kind: "approved", added: true, count: 1 });
    expect(await gates.approve(r.id, { ...ada, via: "slack" })).toEqual({ kind: "approved", added: false, count: 1 });
    expect((await notifyJobs()).some((j) => String(j.id).includes("release.approved"))).toBe(false);
    expect(await gates.approve(r.id, bob)).toEqual({ kind: "approved", added: true, count: 2 });
    const after = await records.releases.require(r.id);
    expect(after.status).toBe("awaiting_approval");
    expect(after.approvals?.map((a) => [a.by, a.name, a.via])).toEqual([
      ["user:1", "ada", "api"],
      ["user:2", "bob", "slack"],
    ]);
    expect((await notifyJobs()).map((j) => j.id)).toContain(`slack.release.approved.${r.id}`);
  });

  it("answers the state of a release that is not awaiting approval, and missing for none", async () => {
    const r = await newRelease();
    expect(await gates.approve(r.id, ada)).toEqual({ kind: "state", status: "pending" });
    expect(await gates.approve("rel_nope", ada)).toEqual({ kind: "missing" });
    expect(await gates.hold({ id: "rel_nope", app: "web" }, "frozen", {})).toEqual({ kind: "missing" });
  });

  it("a newer release awaiting approval supersedes the older one of its environment", async () => {
    const older = await newRelease();
    const other = await newRelease({ environment: "staging" });
    await gates.hold(older, "awaiting_approval", { requiredApprovals: 1 });
    await gates.hold(other, "awaiting_approval", { requiredApprovals: 1 });
    const newer = await newRelease();
    const held = await gates.hold(newer, "awaiting_approval", { requiredApprovals: 1 });
    expect(held).toEqual({ kind: "held", status: "awaiting_approval", superseded: [older.id] });
    expect(await records.releases.require(older.id)).toMatchObject({
      status: "failed",
      reason: `superseded by release #${newer.number}, which awaits approval now`,
    });
    // Another environment's release waits on.
    expect((await records.releases.require(other.id)).status).toBe("awaiting_approval");
    expect(await gates.approve(older.id, ada)).toEqual({ kind: "state", status: "failed" });
    expect((await notifyJobs()).map((j) => j.id)).toContain(`slack.release.failed.${older.id}`);
  });

  it("rejects with who and why (release.rejected); a rejected release takes no approval", async () => {
    const r = await newRelease();
    await gates.hold(r, "awaiting_approval", { requiredApprovals: 1 });
    const res = await gates.reject(r.id, bob, "not on a Friday");
    expect(res.ok).toBe(true);
    const after = await records.releases.require(r.id);
    expect(after).toMatchObject({
      status: "rejected",
      reason: "rejected by bob: not on a Friday",
      rejection: { by: "user:2", name: "bob", via: "slack", reason: "not on a Friday" },
    });
    expect(await gates.approve(r.id, ada)).toEqual({ kind: "state", status: "rejected" });
    expect((await notifyJobs()).map((j) => j.id)).toContain(`slack.release.rejected.${r.id}`);
    // Its retention time starts, as a failed release's.
    expect(await redis.ttl(records.keys.release(r.id))).toBeGreaterThan(0);
  });

  it("freezes, moves the freeze's end on a chained one, and records an operator's deploy-now only on a frozen release", async () => {
    const r = await newRelease();
    expect(await gates.override(r.id, { by: "bootstrap", name: "bootstrap" }, "hotfix")).toEqual({ kind: "state", status: "pending" });
    await gates.hold(r, "frozen", { frozenUntil: "2026-12-07T07:00:00.000Z", freeze: "weekend" });
    expect((await notifyJobs()).map((j) => j.id)).toContain(`slack.release.frozen.${r.id}`);
    expect((await gates.hold(r, "frozen", { frozenUntil: "2026-12-07T12:00:00.000Z" })).kind).toBe("held");
    expect((await records.releases.require(r.id)).frozenUntil).toBe("2026-12-07T12:00:00.000Z");
    expect(await gates.override(r.id, { by: "user:1", name: "ada" }, "hotfix for checkout")).toEqual({ kind: "overridden" });
    const after = await records.releases.require(r.id);
    expect(after.status).toBe("frozen");
    expect(after.override).toMatchObject({ by: "user:1", name: "ada", reason: "hotfix for checkout" });
  });
});
