import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { commonEnvSchema, parseEnv } from "../config/env.js";
import { asCluster, createRedis, waitForRedis } from "../redis/connections.js";
import { type RedisTarget, redisTargetFrom } from "../redis/target.js";
import { aesGcmSeal, contextAad } from "../secrets/aead.js";
import { masterKeyId } from "../secrets/keyring.js";
import type { Sealed, SecretContext } from "../secrets/sealed.js";

/** Test support only: never imported by a service's runtime code. */
export function testRedisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error("REDIS_URL is not set: run the tests through vitest, whose global setup starts Redis");
  return url;
}

/**
 * The suite's Redis Cluster (`pnpm test:cluster`: the global setup started one and set
 * REDIS_CLUSTER_NODES beside its admin REDIS_URL), or undefined on one server.
 */
function testClusterNodes(): string | undefined {
  return process.env.REDIS_CLUSTER_NODES || undefined;
}

/** Where the suite's Redis is, as a service would connect to it (one server, or the cluster). */
function testRedisTarget(): RedisTarget {
  const nodes = testClusterNodes();
  // Each test brings its own {tagged} prefix (uniquePrefix): the one here only passes the check.
  const cluster = nodes ? { REDIS_CLUSTER_NODES: nodes, HOIST_QUEUE_PREFIX: "{test}" } : {};
  return redisTargetFrom(parseEnv(commonEnvSchema, { REDIS_URL: testRedisUrl(), ...cluster }));
}

/**
 * A queue/record prefix of its own for each test, so tests never see each other's keys. On the
 * suite's cluster it is a hash tag (`{test-...}`), as a cluster needs HOIST_QUEUE_PREFIX to be.
 */
export function uniquePrefix(label = "t"): string {
  const prefix = `test-${label}-${randomBytes(5).toString("hex")}`;
  return testClusterNodes() ? `{${prefix}}` : prefix;
}

/** A client of the suite's Redis; on the suite's cluster a Cluster client with a service's settings for `role`. */
export function testRedis(role: "producer" | "worker" = "worker"): Redis {
  if (testClusterNodes()) return createRedis(testRedisTarget(), role, "hoist-test");
  return new Redis(testRedisUrl(), {
    maxRetriesPerRequest: role === "worker" ? null : 1,
    enableOfflineQueue: role === "worker",
  });
}

/** Deletes every key under `prefix:` (queues and records), on every master of a cluster. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  const cluster = asCluster(redis);
  // A Cluster client knows its masters once connected (a test may not have used it yet).
  if (cluster) await waitForRedis(redis);
  for (const server of cluster?.nodes("master") ?? [redis]) {
    let cursor = "0";
    do {
      const [next, keys] = await server.scan(cursor, "MATCH", `${prefix.replace(/[[\]*?\\]/g, "\\$&")}:*`, "COUNT", 500);
      cursor = next;
      // A {tagged} prefix's keys share one slot: one DEL on the node that holds them.
      if (keys.length) await server.del(...keys);
    } while (cursor !== "0");
  }
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
