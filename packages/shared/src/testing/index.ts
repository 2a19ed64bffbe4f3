import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

/** Test support only: never imported by a service's runtime code. */
export function testRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error("REDIS_URL is not set: run the tests through vitest, whose global setup starts Redis");
  return url;
}

/** A queue/record prefix of its own for each test, so tests never see each other's keys. */
export function uniquePrefix(label = "t"): string {
  return `test-${label}-${randomBytes(5).toString("hex")}`;
}

export function testRedis(role: "producer" | "worker" = "worker"): Redis {
  return new Redis(testRedisUrl(), {
    maxRetriesPerRequest: role === "worker" ? null : 1,
    enableOfflineQueue: role === "worker",
  });
}

/** Deletes every key under `prefix:` (queues and records). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== "0");
}

/** Resolves with the first `event` emitted by `emitter` whose args satisfy `match`. */
export function nextEvent<A extends unknown[]>(
  emitter: { on(event: string, fn: (...args: A) => void): unknown; off(event: string, fn: (...args: A) => void): unknown },
  event: string,
  match: (...args: A) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (...args: A) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(args);
    };
    emitter.on(event, on);
  });
}
