import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isPreviewEnvironment, previewEnvironment } from "../environments/names.js";
import { deletePrefix, testRedis, uniquePrefix } from "../testing/index.js";
import { IllegalTransitionError } from "./lifecycle/table.js";
import { Records } from "./repos.js";

const sha = (c: string) => c.repeat(40);

describe("preview records over real Redis", () => {
  let redis: Redis;
  let prefix: string;
  let records: Records;
  let clock: number;

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix("previews");
    clock = Date.parse("2026-01-01T00:00:00Z");
    records = new Records(redis, prefix, { now: () => clock });
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const open = (iid: number, c = "a") =>
    records.previews.upsert("web", iid, { status: "building", sha: sha(c), sourceBranch: `feat-${iid}`, fork: false, title: `MR ${iid}` });

  it("creates a preview under its key, indexed by last update, and lists the most recently updated first", async () => {
    const first = await open(1);
    expect(first).toMatchObject({ ok: true, record: { app: "web", iid: 1, status: "building", createdAt: "2026-01-01T00:00:00.000Z" } });
    expect(first.ok && first.from).toBeUndefined();
    expect(await redis.exists(`${prefix}:rec:app:web:preview:1`)).toBe(1);
    clock += 1000;
    await open(2);
    clock += 1000;
    // An update to !1 (its new commit) moves it to the front; createdAt stays.
    const again = await open(1, "b");
    expect(again).toMatchObject({ ok: true, from: "building", record: { sha: sha("b"), createdAt: "2026-01-01T00:00:00.000Z" } });
    expect((await records.previews.list("web")).map((p) => p.iid)).toEqual([1, 2]);
    expect(await redis.zscore(`${prefix}:rec:app:web:previews`, "1")).toBe(String(clock));
    expect(await records.previews.idleSince("web", clock)).toEqual([2]);
  });

  it("names a preview's environment mr-<iid>, a name reserved for previews", () => {
    expect(previewEnvironment(42)).toBe("mr-42");
    expect([isPreviewEnvironment("mr-42"), isPreviewEnvironment("mr-web"), isPreviewEnvironment("staging")]).toEqual([true, false, false]);
  });

  it("moves statuses only as the transition table allows, in TypeScript and in the script", async () => {
    await open(3);
    const live = await records.previews.transition("web", 3, ["building"], { status: "deploying" });
    expect(live.ok).toBe(true);
    await records.previews.transition("web", 3, ["deploying"], { status: "live", url: "http://mr-3.web.localhost" });
    // The caller's `from` no longer holds: nothing is written.
    expect(await records.previews.transition("web", 3, ["building"], { status: "failed", reason: "x" })).toEqual({
      ok: false,
      reason: "state",
      current: "live",
    });
    await records.previews.transition("web", 3, ["live"], { status: "stopping", reason: "merged" });
    // stopping → building is not in the table: refused before Redis, and by the script for an upsert.
    await expect(records.previews.transition("web", 3, ["stopping"], { status: "building" })).rejects.toThrow(IllegalTransitionError);
    expect(await open(3, "c")).toEqual({ ok: false, reason: "state", current: "stopping" });
    const stopped = await records.previews.transition("web", 3, ["stopping"], { status: "stopped" });
    expect(stopped).toMatchObject({ ok: true, record: { status: "stopped", reason: "merged", url: "http://mr-3.web.localhost" } });
    // Reopened: building again, its old reason removed.
    const reopened = await records.previews.upsert(
      "web",
      3,
      { status: "building", sha: sha("d"), sourceBranch: "f", fork: false },
      { unset: ["reason"] },
    );
    expect(reopened).toMatchObject({ ok: true, from: "stopped", record: { status: "building", sha: sha("d") } });
    expect(reopened.ok && reopened.record.reason).toBeUndefined();
    // A preview starts building or refused, never live.
    await expect(records.previews.upsert("web", 4, { status: "live", sha: sha("e"), sourceBranch: "f", fork: false })).rejects.toThrow(
      /starts building or refused/,
    );
    expect(await records.previews.get("web", 4)).toBeUndefined();
    expect(await records.previews.transition("web", 9, ["building"], { status: "deploying" })).toEqual({ ok: false, reason: "missing" });
  });

  it("goes with its app: deleting the app deletes its previews' records and index", async () => {
    await records.apps.create({
      name: "web",
      branch: "main",
      repo: { sshUrl: "ssh://git@127.0.0.1/web.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
    });
    await open(1);
    await open(2);
    expect(await records.apps.delete("web")).toBe(true);
    expect(await redis.keys(`${prefix}:rec:app:web*`)).toEqual([]);
  });

  it("patches fields without a status, validates them, and deletes record and index entry", async () => {
    await open(5);
    clock += 5000;
    expect(await records.previews.patch("web", 5, { buildId: "bld_5" })).toMatchObject({ buildId: "bld_5", status: "building" });
    expect(await redis.zscore(`${prefix}:rec:app:web:previews`, "5")).toBe(String(clock));
    expect(await records.previews.patch("web", 6, { buildId: "bld_6" })).toBeUndefined();
    await expect(records.previews.patch("web", 5, { sha: "not-a-sha" })).rejects.toThrow(/sha/);
    expect(await records.previews.delete("web", 5)).toBe(true);
    expect(await records.previews.delete("web", 5)).toBe(false);
    expect(await records.previews.list("web")).toEqual([]);
    expect(await redis.exists(`${prefix}:rec:app:web:previews`)).toBe(0);
  });
});
