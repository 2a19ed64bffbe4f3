import type { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deletePrefix, testRedis, uniquePrefix } from "../testing/index.js";
import { encodeFields } from "./codec.js";
import { recordKeys } from "./keys.js";
import { Records } from "./repos.js";

/**
 * Redis Cluster support tags keys through HOIST_QUEUE_PREFIX (`{hoist}`, required on a cluster
 * only), never by renaming them: an installation on one server keeps its key names, so what an
 * older Hoist stored is found after the upgrade.
 */
describe("record keys across the Redis Cluster change", () => {
  let redis: Redis;
  let prefix: string;

  beforeEach(() => {
    redis = testRedis();
    prefix = uniquePrefix("keys");
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it("names keys as before cluster support with a plain prefix, and puts a {tagged} prefix's keys in its tag", () => {
    const keys = recordKeys("hoist");
    expect([keys.apps, keys.app("web"), keys.build("bld_1"), keys.release("rel_1"), keys.notifyOutbox, keys.deployLock("web")]).toEqual([
      "hoist:rec:apps",
      "hoist:rec:app:web",
      "hoist:rec:build:bld_1",
      "hoist:rec:release:rel_1",
      "hoist:notify:outbox",
      "hoist:deployer:lock:web",
    ]);
    // Redis Cluster hashes only what is inside the first {...}: every key of {hoist} has the slot of "hoist".
    const tagged = recordKeys("{hoist}");
    for (const key of [
      tagged.apps,
      tagged.app("web"),
      tagged.openBuilds("web", "refs/heads/main"),
      tagged.notifyOutbox,
      tagged.deployFence("web"),
    ])
      expect(/^\{([^{}]+)\}/.exec(key)?.[1]).toBe("hoist");
  });

  it("finds an app, its build and its indexes stored under the names an older Hoist wrote", async () => {
    // Written as Hoist did before cluster support, key by key (not through recordKeys).
    const now = new Date(0).toISOString();
    const app = {
      name: "web",
      branch: "main",
      repo: { sshUrl: "git@gitlab.example.com:group/web.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
      hookId: "hkweb",
      createdAt: now,
      updatedAt: now,
    };
    await redis.hset(`${prefix}:rec:app:web`, ...encodeFields(app));
    await redis.zadd(`${prefix}:rec:apps`, 1, "web");
    await redis.set(`${prefix}:rec:hook:hkweb`, "web");

    const records = new Records(redis, prefix);
    expect(await records.apps.get("web")).toMatchObject({ name: "web", branch: "main", hookId: "hkweb" });
    expect(await records.apps.list()).toHaveLength(1);
    expect((await records.apps.byHookId("hkweb"))?.name).toBe("web");
    // New records go beside them, under the same names.
    const build = await records.builds.create({ app: "web", ref: "refs/heads/main", sha: "a".repeat(40), trigger: "push" });
    expect(await redis.exists(`${prefix}:rec:build:${build.id}`)).toBe(1);
    expect(await redis.zscore(`${prefix}:rec:app:web:builds`, build.id)).not.toBeNull();
  });
});
