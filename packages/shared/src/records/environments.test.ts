import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EnvironmentPolicy, environmentPolicy } from "../environments/policy.js";
import type { Sealed } from "../secrets/sealed.js";
import { deletePrefix, testRedis, uniquePrefix } from "../testing/index.js";
import { EnvironmentExistsError } from "./environments.js";
import { NotFoundError } from "./hash-repo.js";
import { Records } from "./repos.js";

const sealed = (tag: string): Sealed => ({
  v: 2,
  provider: "local",
  keyId: "local:test",
  encryptedKey: "k",
  iv: "i",
  tag,
  ciphertext: "c",
});
const local = (port: number) => ({ kind: "local" as const, services: { web: { port } } });
const freeze = { cron: "0 18 * * 5", duration: "62h", timezone: "Europe/Berlin" };

describe("environments over real Redis", () => {
  let redis: Redis;
  let prefix: string;
  let records: Records;

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix("envs");
    records = new Records(redis, prefix);
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const newApp = (name: string, extra: { env?: Sealed } = {}) =>
    records.apps.create({
      name,
      branch: "main",
      repo: { sshUrl: `git@gitlab.example.com:group/${name}.git` },
      target: local(8081),
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
      ...extra,
    });

  it("an app made the old way is one environment, production, with its target and variables, auto, no approvals or freezes", async () => {
    const app = await newApp("web", { env: sealed("app-env") });
    const [prod, ...rest] = await records.environments.list(app);
    expect(rest).toEqual([]);
    expect(prod).toEqual({
      app: "web",
      name: "production",
      target: local(8081),
      env: sealed("app-env"),
      auto: true,
      requiredApprovals: 0,
      freezes: [],
      createdAt: app.createdAt,
      updatedAt: app.updatedAt,
    });
    // Nothing was written for it: production is the app record itself.
    expect(await redis.exists(records.keys.environment("web", "production"))).toBe(0);
    const policy: EnvironmentPolicy = await environmentPolicy(records, "web", "production");
    expect(policy).toEqual({ requiredApprovals: 0, freezes: [], gitlabFreezes: false });
    // What a deploy reads, in one round trip: the app and the environment, each as above.
    const { hostKeys: _pinned, ...stored } = app;
    expect(await records.environments.withApp("web", "production")).toEqual({ app: stored, environment: prod });
    await records.environments.create(app, { name: "qa", target: local(9) });
    expect((await records.environments.withApp("web", "qa"))?.environment).toEqual(await records.environments.get(app, "qa"));
    expect(await records.environments.withApp("web", "nope")).toBeUndefined();
    expect(await records.environments.withApp("nope", "production")).toBeUndefined();
  });

  it("creates, lists (production first), updates and deletes other environments with their own target and variables", async () => {
    const app = await newApp("web");
    const staging = await records.environments.create(app, {
      name: "staging",
      target: local(8082),
      env: sealed("staging-env"),
      auto: true,
    });
    expect(staging).toMatchObject({
      app: "web",
      name: "staging",
      target: local(8082),
      env: sealed("staging-env"),
      auto: true,
      requiredApprovals: 0,
      freezes: [],
    });
    await records.environments.create(app, { name: "qa", target: local(8083), requiredApprovals: 2, freezes: [freeze] });
    await expect(records.environments.create(app, { name: "staging", target: local(9) })).rejects.toThrow(EnvironmentExistsError);
    await expect(records.environments.create(app, { name: "production", target: local(9) })).rejects.toThrow(EnvironmentExistsError);
    expect((await records.environments.list(app)).map((e) => [e.name, e.auto])).toEqual([
      ["production", true],
      ["staging", true],
      ["qa", false],
    ]);
    expect(await environmentPolicy(records, "web", "qa")).toEqual({ requiredApprovals: 2, freezes: [freeze], gitlabFreezes: false });

    const changed = await records.environments.update(app, "qa", { auto: true, requiredApprovals: 0, env: sealed("qa-env") });
    expect(changed).toMatchObject({ auto: true, requiredApprovals: 0, freezes: [freeze], env: sealed("qa-env"), target: local(8083) });
    expect((await records.environments.update(app, "qa", { env: null }))?.env).toBeUndefined();
    expect(await records.environments.update(app, "nope", { auto: true })).toBeUndefined();

    expect(await records.environments.delete("web", "qa")).toBe(true);
    expect(await records.environments.delete("web", "qa")).toBe(false);
    expect(await records.environments.delete("web", "production")).toBe(false);
    expect(await records.environments.names("web")).toEqual(["production", "staging"]);
    await expect(environmentPolicy(records, "web", "qa")).rejects.toThrow(NotFoundError);
    await expect(environmentPolicy(records, "nope", "production")).rejects.toThrow(NotFoundError);
  });

  it("lists environments in creation order, also those made within the same millisecond", async () => {
    const app = await newApp("web");
    const names = ["zeta", "eta", "delta", "beta", "alpha"];
    // Sent back to back on one connection: Redis sees them in this order, most within one millisecond.
    await Promise.all(names.map((name) => records.environments.create(app, { name, target: local(9) })));
    expect(await records.environments.names("web")).toEqual(["production", ...names]);
    expect((await records.environments.list(app)).map((e) => e.name)).toEqual(["production", ...names]);
  });

  it("production's target and variables are the app record's; its policy is kept beside it", async () => {
    const app = await newApp("web", { env: sealed("v1") });
    await records.apps.update("web", { gitlab: { connectionId: "glc_1", projectId: 7 } });
    const linked = await records.apps.require("web");
    const prod = await records.environments.update(linked, "production", {
      target: local(9000),
      env: sealed("v2"),
      auto: false,
      requiredApprovals: 1,
    });
    expect(prod).toMatchObject({
      name: "production",
      target: local(9000),
      env: sealed("v2"),
      auto: false,
      requiredApprovals: 1,
      freezes: [],
    });
    const stored = await records.apps.require("web");
    expect(stored.target).toEqual(local(9000));
    expect(stored.env).toEqual(sealed("v2"));
    // A later change of one field keeps the others.
    await records.environments.update(stored, "production", { freezes: [freeze] });
    expect(await environmentPolicy(records, "web", "production")).toEqual({ requiredApprovals: 1, freezes: [freeze], gitlabFreezes: true });
    expect((await records.environments.get(stored, "production"))?.auto).toBe(false);
    await records.environments.update(stored, "production", { env: null });
    expect((await records.apps.require("web")).env).toBeUndefined();
    expect(app.name).toBe("web");
  });

  it("numbers and lists releases per environment; one stored before environments reads as production", async () => {
    const app = await newApp("web");
    await records.environments.create(app, { name: "staging", target: local(8082) });
    const build = await records.builds.create({ app: "web", ref: "refs/heads/main", sha: "a".repeat(40), trigger: "push" });
    const p1 = await records.releases.create({ app: "web", buildId: build.id, images: [] });
    const s1 = await records.releases.create({ app: "web", environment: "staging", buildId: build.id, images: [] });
    const s2 = await records.releases.create({ app: "web", environment: "staging", buildId: build.id, images: [] });
    const p2 = await records.releases.create({ app: "web", environment: "production", buildId: build.id, images: [] });
    expect([p1, p2, s1, s2].map((r) => [r.environment, r.number])).toEqual([
      ["production", 1],
      ["production", 2],
      ["staging", 1],
      ["staging", 2],
    ]);
    expect((await records.releases.listByApp("web")).map((r) => r.id)).toEqual([p2.id, p1.id]);
    expect((await records.releases.listByEnvironment("web", "staging")).map((r) => r.id)).toEqual([s2.id, s1.id]);
    // Production keeps the keys of before environments.
    expect(await redis.zrange(`${prefix}:rec:app:web:releases`, 0, -1)).toEqual([p1.id, p2.id]);

    // A release as an older Hoist stored it: no environment field.
    await redis.hdel(records.keys.release(p1.id), "environment");
    expect((await records.releases.require(p1.id)).environment).toBe("production");

    await redis.set(records.keys.liveRelease("web@staging"), s1.id);
    expect((await records.releases.live("web", "staging"))?.id).toBe(s1.id);
    expect(await records.releases.live("web")).toBeUndefined();
  });

  it("deleting the app deletes its environments: an app made again under its name has production only", async () => {
    const app = await newApp("web");
    await records.environments.create(app, { name: "staging", target: local(8082) });
    await records.environments.update(app, "production", { auto: false });
    await records.apps.delete("web");
    const again = await newApp("web");
    expect((await records.environments.list(again)).map((e) => [e.name, e.auto])).toEqual([["production", true]]);
  });
});
