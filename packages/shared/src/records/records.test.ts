import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deletePrefix, testRedis, uniquePrefix } from "../testing/index.js";
import { newId } from "./ids.js";
import { ConflictError, Records } from "./repos.js";

const sha = (c: string) => c.repeat(40);

describe("records repositories over real Redis", () => {
  let redis: Redis;
  let prefix: string;
  let records: Records;

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix("records");
    records = new Records(redis, prefix);
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const newApp = (name: string) =>
    records.apps.create({
      name,
      branch: "main",
      repo: { sshUrl: `git@gitlab.example.com:group/${name}.git` },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
      hookId: `hk${name}`,
    });

  it("creates, reads, lists, updates and deletes apps; names are unique", async () => {
    const app = await newApp("web");
    expect(app.createdAt).toBe(app.updatedAt);
    await expect(newApp("web")).rejects.toThrow(ConflictError);
    await newApp("api");
    expect((await records.apps.list()).map((a) => a.name)).toEqual(["web", "api"]);
    expect((await records.apps.byHookId("hkweb"))?.name).toBe("web");
    const updated = await records.apps.update("web", { branch: "release/*" });
    expect(updated?.branch).toBe("release/*");
    expect(await records.apps.update("nope", { branch: "x" })).toBeUndefined();
    expect(await records.apps.delete("web")).toBe(true);
    expect(await records.apps.get("web")).toBeUndefined();
    expect(await records.apps.byHookId("hkweb")).toBeUndefined();
    expect(await records.apps.delete("web")).toBe(false);
  });

  it("pins host keys under their own key on first use; an app record's own pins are read first; delete drops the pin", async () => {
    const line = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFirst";
    await newApp("web");
    expect((await records.apps.require("web")).hostKeys).toBeUndefined();
    expect(await records.apps.pinHostKeys("web", [line])).toBe(true);
    // The first pin stands: a second first use (another builder, a changed host) does not replace it.
    expect(await records.apps.pinHostKeys("web", ["[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISecond"])).toBe(false);
    expect((await records.apps.require("web")).hostKeys).toEqual([line]);
    expect((await records.apps.list()).map((a) => a.hostKeys)).toEqual([[line]]);
    // Stored beside the app record, not in it.
    expect(await redis.hget(records.apps.key("web"), "hostKeys")).toBeNull();
    expect(JSON.parse((await redis.get(`${prefix}:rec:app:web:host-keys`)) ?? "null")).toEqual([line]);

    // An app pinned in its record (before the key existed, or by the API when linking) keeps its pins.
    await newApp("old");
    await records.apps.update("old", { hostKeys: ["old-host ssh-ed25519 AAAAOld"] });
    expect((await records.apps.require("old")).hostKeys).toEqual(["old-host ssh-ed25519 AAAAOld"]);
    await records.apps.update("web", { hostKeys: ["relinked ssh-ed25519 AAAANew"] });
    expect((await records.apps.require("web")).hostKeys).toEqual(["relinked ssh-ed25519 AAAANew"]);

    await expect(records.apps.pinHostKeys("web", ["two\nlines"])).rejects.toThrow(/line break/);
    await expect(records.apps.pinHostKeys("web", [])).rejects.toThrow(/no host key to pin/);
    await newApp("bad");
    await redis.set(`${prefix}:rec:app:bad:host-keys`, "not json");
    await expect(records.apps.get("bad")).rejects.toThrow(/host-keys does not hold pinned SSH host keys .*delete it/);

    expect(await records.apps.delete("web")).toBe(true);
    expect(await redis.exists(`${prefix}:rec:app:web:host-keys`)).toBe(0);
  });

  it("numbers builds per app monotonically, also when created concurrently", async () => {
    await newApp("web");
    await newApp("api");
    const builds = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        records.builds.create({ app: "web", ref: "refs/heads/main", sha: sha(String(i % 10)), trigger: "push" }),
      ),
    );
    expect(builds.map((b) => b.number).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const other = await records.builds.create({ app: "api", ref: "refs/heads/main", sha: sha("a"), trigger: "manual" });
    expect(other.number).toBe(1);
    const listed = await records.builds.listByApp("web", 5);
    expect(listed.map((b) => b.number)).toEqual([25, 24, 23, 22, 21]);
    const again = await records.builds.require(builds[0]!.id);
    expect(again).toEqual(builds[0]);
    expect(again.status).toBe("queued");
  });

  it("creates one build per once-key, even concurrently, and takes a creation back", async () => {
    await newApp("web");
    const once = { key: `${prefix}:once:1`, ttlMs: 60_000, openIndex: `${prefix}:open:main` };
    const input = { app: "web", ref: "main", sha: sha("c"), trigger: "push" as const };
    const outs = await Promise.all(Array.from({ length: 10 }, () => records.builds.createOnce(input, once)));
    const created = outs.filter((o) => o.created);
    expect(created).toHaveLength(1);
    const first = created[0]!;
    if (!first.created) throw new Error("unreachable");
    expect(outs.filter((o) => !o.created).map((o) => (o.created ? "" : o.id))).toEqual(Array(9).fill(first.build.id));
    expect(await records.builds.require(first.build.id)).toEqual(first.build);
    expect(first.open).toEqual([first.build.id]);
    expect(await redis.pttl(once.key)).toBeGreaterThan(50_000);

    const next = await records.builds.createOnce(input, { ...once, key: `${prefix}:once:2` });
    expect(next).toMatchObject({ created: true, build: { number: 2 }, open: [first.build.id, expect.any(String)] });
    if (!next.created) throw new Error("unreachable");
    await records.builds.undoCreateOnce(next.build, { ...once, key: `${prefix}:once:2` });
    expect(await records.builds.get(next.build.id)).toBeUndefined();
    expect(await redis.exists(`${prefix}:once:2`)).toBe(0);
    expect(await redis.zrange(once.openIndex, 0, -1)).toEqual([first.build.id]);
    expect((await records.builds.listByApp("web")).map((b) => b.id)).toEqual([first.build.id]);
    // A key is released only while it names the given build.
    expect(await records.builds.releaseOnce(once.key, "bld_other")).toBe(false);
    expect(await records.builds.releaseOnce(once.key, first.build.id)).toBe(true);
  });

  it("keeps a once-key until an absolute time on the caller's clock, and treats one that clock has passed as absent", async () => {
    await newApp("web");
    const t = Date.now();
    const once = { key: `${prefix}:once:clock`, ttlMs: 60_000, openIndex: `${prefix}:open:clock`, now: t };
    const input = { app: "web", ref: "main", sha: sha("d"), trigger: "push" as const };
    const first = await records.builds.createOnce(input, once);
    if (!first.created) throw new Error("expected a fresh key");
    expect(await redis.pexpiretime(once.key)).toBe(t + 60_000);
    expect(await records.builds.createOnce(input, { ...once, now: t + 59_999 })).toEqual({ created: false, id: first.build.id });
    // Redis still holds the key, but the caller's clock is past it: a new record, and the key renewed from that clock.
    const again = await records.builds.createOnce(input, { ...once, now: t + 60_000 });
    expect(again).toMatchObject({ created: true });
    expect(await redis.pexpiretime(once.key)).toBe(t + 120_000);
  });

  it("moves a build's status only from an allowed one", async () => {
    await newApp("web");
    const b = await records.builds.create({ app: "web", ref: "refs/heads/main", sha: sha("b"), trigger: "push" });
    const startedAt = new Date().toISOString();
    const started = await records.builds.transition(b.id, ["queued"], { status: "running", startedAt });
    expect(started).toMatchObject({ ok: true, from: "queued", record: { status: "running", startedAt } });
    const again = await records.builds.transition(b.id, ["queued"], { status: "running" });
    expect(again).toEqual({ ok: false, reason: "state", current: "running" });
    const racing = await Promise.all(
      [0, 1, 2, 3].map(() => records.builds.transition(b.id, ["running"], { status: "succeeded", finishedAt: startedAt })),
    );
    expect(racing.filter((r) => r.ok)).toHaveLength(1);
    expect(await records.builds.transition(newId("bld"), ["queued"], { status: "running" })).toEqual({ ok: false, reason: "missing" });
  });

  it("keeps releases per app with their own numbers", async () => {
    await newApp("web");
    const b = await records.builds.create({ app: "web", ref: "refs/heads/main", sha: sha("c"), trigger: "push" });
    const r1 = await records.releases.create({ app: "web", buildId: b.id, images: [{ service: "web", tag: "r/web:web.1" }] });
    const r2 = await records.releases.create({ app: "web", buildId: b.id, images: [], sourceReleaseId: r1.id });
    expect([r1.number, r2.number]).toEqual([1, 2]);
    expect(r1.status).toBe("pending");
    expect((await records.releases.listByApp("web")).map((r) => r.id)).toEqual([r2.id, r1.id]);
    expect(await records.releases.patch(r1.id, { reason: "x" })).toBe(true);
    expect(await records.releases.patch(newId("rel"), { reason: "x" })).toBe(false);
  });

  it("stores GitLab connections and rejects corrupt records loudly", async () => {
    const conn = await records.gitlabConnections.create({
      url: "https://gitlab.example.com",
      username: "bot",
      token: { v: 1, provider: "local", keyId: "local:x", encryptedKey: "a", iv: "b", tag: "c", ciphertext: "d" },
    });
    expect((await records.gitlabConnections.list()).map((c) => c.id)).toEqual([conn.id]);
    await redis.hset(records.keys.gitlabConnection(conn.id), "url", '"not a url"');
    await expect(records.gitlabConnections.get(conn.id)).rejects.toThrow(/does not match its schema: url/);
  });
});
