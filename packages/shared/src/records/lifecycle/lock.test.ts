import { once } from "node:events";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JobQueues } from "../../queues/producer.js";
import { deletePrefix, testRedis, uniquePrefix } from "../../testing/index.js";
import { Records } from "../repos.js";
import type { Release } from "../schemas.js";
import { lockKeys, tryAcquireAppLock } from "./lock.js";
import { LockLostError } from "./move.js";
import { ReleaseLifecycle } from "./releases.js";

const redis = testRedis("worker");
let prefix: string;
beforeEach(() => {
  prefix = uniquePrefix("lock");
});
afterEach(async () => {
  await deletePrefix(redis, prefix);
});

describe("per-app deploy lock", () => {
  it("admits one holder per app, not other apps, with increasing fencing tokens", async () => {
    const a = await tryAcquireAppLock(redis, prefix, "shop", 5_000);
    expect(a).toBeDefined();
    expect(await tryAcquireAppLock(redis, prefix, "shop", 5_000)).toBeUndefined();
    const other = await tryAcquireAppLock(redis, prefix, "blog", 5_000);
    expect(other).toBeDefined();
    await a!.release();
    const b = await tryAcquireAppLock(redis, prefix, "shop", 5_000);
    expect(Number(b!.token)).toBeGreaterThan(Number(a!.token));
    await Promise.all([b!.release(), other!.release()]);
  });

  it("keeps a live holder's lock past its TTL by renewing it", async () => {
    const a = await tryAcquireAppLock(redis, prefix, "shop", 300);
    await new Promise((r) => setTimeout(r, 900));
    expect(await tryAcquireAppLock(redis, prefix, "shop", 300)).toBeUndefined();
    a!.assertHeld();
    await a!.release();
  });

  it("frees the app after a crashed holder's TTL, and fences the stale holder's writes", async () => {
    // The crashed holder: its own connection, gone without releasing.
    const crashed = testRedis("worker");
    await once(crashed, "ready");
    const records = new Records(redis, prefix);
    const build = await records.builds.create({ app: "shop", ref: "refs/heads/main", sha: "e".repeat(40), trigger: "push" });
    const release: Release = await records.releases.create({
      app: "shop",
      buildId: build.id,
      images: [{ service: "web", tag: "x/shop:web.1" }],
    });
    const stale = await tryAcquireAppLock(crashed, prefix, "shop", 300);
    crashed.disconnect();
    const started = Date.now();
    let next = await tryAcquireAppLock(redis, prefix, "shop", 5_000);
    while (!next) {
      await new Promise((r) => setTimeout(r, 50));
      next = await tryAcquireAppLock(redis, prefix, "shop", 5_000);
    }
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(Number(next.token)).toBeGreaterThan(Number(stale!.token));

    const store = new ReleaseLifecycle(records, new JobQueues(redis, prefix));
    await expect(store.begin(release, stale!)).rejects.toBeInstanceOf(LockLostError);
    await expect(store.fail(release, "stale", stale!)).rejects.toBeInstanceOf(LockLostError);
    expect((await store.begin(release, next)).kind).toBe("deploying");
    expect(await redis.get(lockKeys(prefix, "shop").lock)).toBe(next.token);
    await next.release();
  });

  it("reports a lock taken over while held as lost", async () => {
    const a = await tryAcquireAppLock(redis, prefix, "shop", 150);
    // Another holder takes over (as after a long pause past the TTL).
    await redis.set(lockKeys(prefix, "shop").lock, "999999");
    await expect(a!.lost).rejects.toBeInstanceOf(LockLostError);
    expect(() => a!.assertHeld()).toThrow(LockLostError);
    await a!.release();
    expect(await redis.get(lockKeys(prefix, "shop").lock)).toBe("999999");
  });
});
