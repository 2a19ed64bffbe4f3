import { Redis, type RedisOptions } from "ioredis";

export type RedisRole = "producer" | "worker";

/**
 * Producers (the API, anything that enqueues from a request) fail fast when Redis is down so
 * that the caller can answer 503 instead of hanging. Workers wait and reconnect forever:
 * BullMQ requires maxRetriesPerRequest: null for blocking connections.
 */
function redisOptions(role: RedisRole): RedisOptions {
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

/** Redis refused this client's user or password, or the user lacks a right Hoist needs: retrying cannot help. */
export class RedisAuthError extends Error {
  override name = "RedisAuthError";
}

const refusal = /\b(WRONGPASS|NOAUTH|NOPERM)\b/;

/**
 * What to tell the operator when Redis refuses the credentials (never the password itself). The
 * user is the one REDIS_URL names: with `pnpm start` and docker compose each service has its own
 * (hoist-api, hoist-builder, ...), with its password in HOIST_REDIS_PASSWORD_<SERVICE>.
 */
export function redisAuthError(client: Redis, reason: string): RedisAuthError {
  const user = client.options.username || "default";
  const code = refusal.exec(reason)?.[1] ?? "refused";
  const what =
    code === "NOPERM"
      ? `Redis user "${user}" may not run a command Hoist needs at start (${reason})`
      : code === "NOAUTH"
        ? `Redis asks for a password and REDIS_URL has none (${reason})`
        : `Redis refused user "${user}" with the password in REDIS_URL (${reason})`;
  return new RedisAuthError(
    `${what}: set REDIS_URL to redis://<user>:<password>@host:port with this service's user and password ` +
      "(pnpm start and docker compose: HOIST_REDIS_PASSWORD_<SERVICE>, written by node scripts/redis-acl.mjs <acl-file> <prefix>, " +
      "whose ACL file Redis must load with --aclfile)",
  );
}

/**
 * Resolves once the client is connected and answers PING, or rejects after `timeoutMs`; rejects
 * at once with a RedisAuthError when Redis refuses the credentials (ioredis would retry forever).
 */
export async function waitForRedis(client: Redis, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let refused: string | undefined;
  const onError = (err: Error) => {
    if (refusal.test(err.message)) refused = err.message;
  };
  client.on("error", onError);
  try {
    while (Date.now() < deadline && !refused) {
      try {
        if (client.status === "ready") {
          await client.ping();
          return;
        }
        await new Promise<void>((resolve) => {
          const done = () => {
            client.off("ready", done);
            client.off("error", done);
            resolve();
          };
          client.once("ready", done);
          client.once("error", done);
          setTimeout(done, 250).unref();
        });
      } catch (err) {
        lastError = err;
        if (err instanceof Error && refusal.test(err.message)) refused = err.message;
      }
    }
  } finally {
    client.off("error", onError);
  }
  if (refused) throw redisAuthError(client, refused);
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
