import { Redis, type RedisOptions } from "ioredis";

export type RedisRole = "producer" | "worker";

/**
 * Producers (the API, anything that enqueues from a request) fail fast when Redis is down so
 * that the caller can answer 503 instead of hanging. Workers wait and reconnect forever:
 * BullMQ requires maxRetriesPerRequest: null for blocking connections.
 */
export function redisOptions(role: RedisRole): RedisOptions {
  const common: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  };
  if (role === "producer") {
    return { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000 };
  }
  return { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null };
}

export function createRedis(url: string, role: RedisRole, name?: string): Redis {
  const client = new Redis(url, { ...redisOptions(role), connectionName: name });
  // ioredis emits 'error' on every failed reconnect; without a listener Node would crash the process.
  client.on("error", () => {});
  return client;
}

/** Resolves once the client is connected and answers PING, or rejects after `timeoutMs`. */
export async function waitForRedis(client: Redis, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (client.status === "ready") {
        await client.ping();
        return;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          client.off("ready", done);
          resolve();
        };
        client.once("ready", done);
        setTimeout(done, 250).unref();
      });
    } catch (err) {
      lastError = err;
    }
  }
  const reason = lastError instanceof Error ? lastError.message : `status ${client.status}`;
  throw new Error(`Redis did not answer within ${timeoutMs} ms (${reason}); check REDIS_URL and that Redis is running`);
}

export class RedisPolicyError extends Error {
  override name = "RedisPolicyError";
}

/**
 * BullMQ loses jobs when Redis evicts keys under memory pressure, so Hoist refuses to run
 * against a Redis whose maxmemory-policy is anything but noeviction. INFO works on managed
 * Redis services where CONFIG GET is disabled.
 */
export async function assertNoEviction(client: Redis): Promise<void> {
  const info = await client.info("memory");
  const match = /^maxmemory_policy:(\S+)/m.exec(info);
  const policy = match?.[1];
  if (policy !== "noeviction") {
    throw new RedisPolicyError(
      `Redis maxmemory-policy is "${policy ?? "unknown"}", but Hoist needs "noeviction" or queued jobs can be silently evicted; ` +
        `run "CONFIG SET maxmemory-policy noeviction" (and set it in redis.conf) or start redis-server with --maxmemory-policy noeviction`,
    );
  }
}
