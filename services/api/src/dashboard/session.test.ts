import { createHash } from "node:crypto";
import type { Redis } from "@hoist/shared";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStore } from "./session.js";

/** Every key under the prefix, with its value. */
async function dump(redis: Redis, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    cursor = next;
    for (const k of keys) out.set(k, (await redis.get(k)) ?? "");
  } while (cursor !== "0");
  return out;
}

describe("dashboard sessions in Redis (a real Redis)", () => {
  let redis: Redis;
  const prefix = uniquePrefix("session");
  let store: SessionStore;

  beforeAll(() => {
    redis = testRedis();
    store = new SessionStore(redis, prefix);
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  it("stores the session under the id's SHA-256: the id itself is nowhere in Redis", async () => {
    const session = await store.create({ kind: "bootstrap" });
    const keys = await dump(redis, prefix);
    const hashed = createHash("sha256").update(session.id).digest("hex");
    expect([...keys.keys()]).toEqual([`${prefix}:session:${hashed}`]);
    for (const [key, value] of keys) {
      expect(key).not.toContain(session.id);
      expect(value).not.toContain(session.id);
    }
    expect(await store.get(session.id)).toEqual(session);
    await store.destroy(session.id);
    expect(await dump(redis, prefix)).toEqual(new Map());
    expect(await store.get(session.id)).toBeUndefined();
  });

  it("a key written with a chosen id as its name is not a session for that id", async () => {
    const chosen = "A".repeat(43);
    await redis.set(`${prefix}:session:${chosen}`, JSON.stringify({ csrf: "attacker" }), "EX", 60);
    expect(await store.get(chosen)).toBeUndefined();
  });
});
