import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { RedisTarget } from "./target.js";

export type RedisRole = "producer" | "worker";

/** A command answered by a demoted master (a replica now): the connection must find the new master. */
const isReadonlyError = (err: Error): boolean => /^READONLY\b/.test(err.message);

/**
 * Producers (the API, anything that enqueues from a request) fail fast when Redis is down so
 * that the caller can answer 503 instead of hanging. Workers wait and reconnect forever:
 * BullMQ requires maxRetriesPerRequest: null for blocking connections.
 *
 * Failover settings (docs/operations.md#high-availability):
 * - keepAlive 5 s: TCP keepalive probes find a peer that vanished (a host lost, not a process
 *   killed) on an idle connection, which otherwise looks "ready" forever.
 * - socketTimeout: a connection that waits for a reply and gets no byte for this long is
 *   destroyed and reconnected, which is what a frozen master (SIGSTOP, DEBUG SLEEP, a stalled VM)
 *   needs. Producers 2 s, as their command timeout. Workers 20 s: longer than BullMQ's longest
 *   blocking wait for jobs (10 s) plus its grace, so that an idle worker is not cut off.
 * - reconnectOnError READONLY: a master demoted to replica answers writes with READONLY while the
 *   connection stays up; the client reconnects (through Sentinel: to the new master). Workers
 *   resend the command there (2); producers fail it (1), so that the request answers 503 at once.
 * - retryStrategy: 50 ms doubling, at most 1 s between attempts: the new master is taken within
 *   about a second of being known, which Sentinel's own failover (seconds) dwarfs.
 * - Sentinel: failoverDetector subscribes to the Sentinels' +switch-master and reconnects the
 *   moment they elect a new master, instead of waiting for the old one's socket to fail.
 */
function redisOptions(role: RedisRole): RedisOptions {
  const common: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2_000,
    keepAlive: 5_000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
  };
  if (role === "producer") {
    return {
      ...common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2_000,
      socketTimeout: 2_000,
      reconnectOnError: (err) => (isReadonlyError(err) ? 1 : false),
    };
  }
  return {
    ...common,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    socketTimeout: 20_000,
    reconnectOnError: (err) => (isReadonlyError(err) ? 2 : false),
  };
}

/** REDIS_URL's user, password, db and TLS, as ioredis options (Sentinel's master, a cluster's nodes). */
function urlAuth(target: { url: string }): RedisOptions {
  const url = new URL(target.url);
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...(url.protocol === "rediss:" ? { tls: {} } : {}),
  };
}

/** ioredis options through Sentinel: REDIS_URL's user, password, db and TLS for the master. */
function targetOptions(target: Extract<RedisTarget, { kind: "sentinel" }>): RedisOptions {
  const url = new URL(target.url);
  const auth = urlAuth(target);
  return {
    ...auth,
    sentinels: target.sentinels,
    name: target.name,
    role: "master",
    ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
    failoverDetector: true,
    // Sentinels down or still electing: ask again soon (null would give up for good).
    sentinelRetryStrategy: (times) => Math.min(100 * times, 1_000),
    sentinelMaxConnections: 3,
    ...(url.protocol === "rediss:" ? { enableTLSForSentinelMode: true } : {}),
  };
}

/**
 * ioredis' Cluster client (docs/operations.md#redis-cluster): it asks the listed nodes for the
 * slot map, sends each command to the master of its key's slot, follows MOVED and ASK and reloads
 * the map after a failover. Every node connection gets the role's settings above and REDIS_URL's
 * user and password (each node has the same ACL users). The cluster's own:
 * - enableOfflineQueue: producers off, as on one server: while no slot map is known a command
 *   fails at once (503) instead of waiting; workers queue and wait.
 * - clusterRetryStrategy: reconnect as retryStrategy does (no node answers: try again within 1 s).
 * - retryDelayOnFailover / OnClusterDown / OnTryAgain 100 ms: a node lost, CLUSTERDOWN while the
 *   replica takes over, or TRYAGAIN during a slot move: the command is sent again shortly (up to
 *   maxRedirections times), to the new master once the map is reloaded.
 * - slotsRefreshInterval 2 s: the map is also reloaded regularly, so that a connection parked on
 *   a demoted master (a worker's blocking wait) learns of the new one soon.
 */
function clusterOptions(target: Extract<RedisTarget, { kind: "cluster" }>, role: RedisRole, name: string | undefined): ClusterOptions {
  const node = redisOptions(role);
  const { db: _db, ...auth } = urlAuth(target);
  return {
    redisOptions: { ...node, ...auth, ...(name ? { connectionName: name } : {}) },
    enableOfflineQueue: role === "worker",
    clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: 32,
    slotsRefreshTimeout: 2_000,
    slotsRefreshInterval: 2_000,
    scaleReads: "master",
    ...(auth.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  };
}

/**
 * A Redis client for `role`: `target` is a redis:// URL or a RedisTarget (redisTargetFrom(config):
 * one server, a master through Sentinel, or a Redis Cluster).
 *
 * A cluster's client is ioredis' Cluster, returned as the Redis type Hoist's code is written
 * against: it runs the same commands, scripts (defineCommand), MULTI and pipelines (their keys in
 * one slot: docs/operations.md#redis-cluster), pub/sub and duplicate(), and BullMQ takes either.
 * What differs (its options, INFO per node) is handled here (asCluster, assertNoEviction,
 * redisAuthError); `pnpm test:cluster` runs the record and queue code on a real cluster.
 */
export function createRedis(target: string | RedisTarget, role: RedisRole, name?: string): Redis {
  const parsed: RedisTarget = typeof target === "string" ? { kind: "url", url: target } : target;
  const client =
    parsed.kind === "url"
      ? new Redis(parsed.url, { ...redisOptions(role), connectionName: name })
      : parsed.kind === "sentinel"
        ? new Redis({ ...redisOptions(role), ...targetOptions(parsed), connectionName: name })
        : (new Cluster(parsed.nodes, clusterOptions(parsed, role, name)) as unknown as Redis);
  // ioredis emits 'error' on every failed reconnect; without a listener Node would crash the process.
  client.on("error", () => {});
  return client;
}

/** `client` as ioredis' Cluster client when it is one (createRedis with a cluster target). */
export function asCluster(client: Redis | Cluster): Cluster | undefined {
  return (client as { isCluster?: boolean }).isCluster === true ? (client as Cluster) : undefined;
}

/** The ACL user a client authenticates as (a cluster's: its nodes' user). */
function clientUser(client: Redis | Cluster): string | undefined {
  const cluster = asCluster(client);
  return cluster ? cluster.options.redisOptions?.username : (client as Redis).options.username;
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
export function redisAuthError(client: Redis | Cluster, reason: string): RedisAuthError {
  const user = clientUser(client) || "default";
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
  // A cluster reports a node's refusal as "node error", and its own as "Failed to refresh slots
  // cache" with the last node's error attached.
  const onError = (err: Error & { lastNodeError?: Error }) => {
    const message = refusal.test(err.message) ? err.message : err.lastNodeError?.message;
    if (message && refusal.test(message)) refused = message;
  };
  client.on("error", onError);
  client.on("node error", onError);
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
    client.off("node error", onError);
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
 * Redis services where CONFIG GET is disabled. On a cluster every master is asked (a replica
 * promoted later must have the same setting: set it on every node).
 */
export async function assertNoEviction(client: Redis | Cluster): Promise<void> {
  const cluster = asCluster(client);
  const servers = cluster ? cluster.nodes("master") : [client as Redis];
  for (const server of servers) {
    const info = await server.info("memory");
    const match = /^maxmemory_policy:(\S+)/m.exec(info);
    const policy = match?.[1];
    if (policy !== "noeviction") {
      const where = cluster ? ` on cluster node ${server.options.host}:${server.options.port}` : "";
      throw new RedisPolicyError(
        `Redis maxmemory-policy is "${policy ?? "unknown"}"${where}, but Hoist needs "noeviction" or queued jobs can be silently evicted; ` +
          `run "CONFIG SET maxmemory-policy noeviction" (and set it in redis.conf) or start redis-server with --maxmemory-policy noeviction`,
      );
    }
  }
}
