import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { aesGcmSeal, contextAad } from "../secrets/aead.js";
import { masterKeyId } from "../secrets/keyring.js";
import type { Sealed, SecretContext } from "../secrets/sealed.js";

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

/** A secret sealed as Hoist sealed them before purpose keys (v1): the data key wrapped by the master key itself. */
export function legacySeal(master: Buffer, plaintext: string, context: SecretContext): Sealed {
  const aad = contextAad(context);
  const dataKey = randomBytes(32);
  const wrapped = aesGcmSeal(master, dataKey, aad);
  const body = aesGcmSeal(dataKey, Buffer.from(plaintext), aad);
  return {
    v: 1,
    provider: "local",
    keyId: masterKeyId(master),
    encryptedKey: Buffer.concat([wrapped.iv, wrapped.tag, wrapped.ciphertext]).toString("base64"),
    iv: body.iv.toString("base64"),
    tag: body.tag.toString("base64"),
    ciphertext: body.ciphertext.toString("base64"),
  };
}
