import { z } from "zod";

/** One `host:port` of REDIS_SENTINELS or REDIS_CLUSTER_NODES (IPv6 in brackets: `[::1]:26379`). */
interface RedisNode {
  host: string;
  port: number;
}

/**
 * Where a service's Redis is: one server (REDIS_URL), or a master found through Sentinel
 * (REDIS_SENTINELS + REDIS_SENTINEL_NAME), or a Redis Cluster (REDIS_CLUSTER_NODES). With Sentinel
 * or a cluster, REDIS_URL still carries the service's ACL user, password, database and TLS
 * (`rediss://`); its host and port are not used.
 */
export type RedisTarget =
  | { kind: "url"; url: string }
  | {
      kind: "sentinel";
      /** REDIS_URL: user, password, db and TLS for the master (and replicas). */
      url: string;
      sentinels: RedisNode[];
      name: string;
      sentinelPassword?: string | undefined;
    }
  | {
      kind: "cluster";
      /** REDIS_URL: user, password and TLS for every node (a cluster has only database 0). */
      url: string;
      /** Some of the cluster's nodes: ioredis asks them for the slot map and finds the others. */
      nodes: RedisNode[];
    };

const NODE = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** REDIS_SENTINELS, REDIS_CLUSTER_NODES: a comma-separated list of host:port, parsed; a clear message per bad entry. */
export const redisNodesSchema = z.string().transform((text, ctx): { host: string; port: number }[] => {
  const nodes: RedisNode[] = [];
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    const m = NODE.exec(entry);
    const port = m ? Number(m[3]) : 0;
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({
        code: "custom",
        message: `"${entry}" is not host:port; a comma-separated list of host:port, e.g. 10.0.0.1:26379,10.0.0.2:26379,[::1]:26379`,
      });
      return z.NEVER;
    }
    nodes.push({ host: (m[1] ?? m[2]) as string, port });
  }
  return nodes;
});

/** What the common env schema holds about Redis (see config/env.ts). */
interface RedisEnv {
  REDIS_URL: string;
  REDIS_SENTINELS?: RedisNode[] | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_CLUSTER_NODES?: RedisNode[] | undefined;
  HOIST_QUEUE_PREFIX?: string | undefined;
}

/** A prefix that is one Redis Cluster hash tag as a whole: `{hoist}`. */
const HASH_TAG_PREFIX = /^\{[^{}]+\}$/;

/**
 * The Redis a service connects to, from its parsed env. Throws an Error whose message is one
 * `config:` line per problem (the variables that only make sense together).
 */
export function redisTargetFrom(env: RedisEnv): RedisTarget {
  const problems: string[] = [];
  if (env.REDIS_SENTINELS && !env.REDIS_SENTINEL_NAME)
    problems.push(
      "config: REDIS_SENTINEL_NAME is missing: the name the Sentinels monitor the master under (`sentinel monitor <name> ...`), e.g. hoist",
    );
  if (!env.REDIS_SENTINELS && env.REDIS_SENTINEL_NAME)
    problems.push("config: REDIS_SENTINELS is missing: REDIS_SENTINEL_NAME is set; list the Sentinels as host:port,host:port,...");
  if (!env.REDIS_SENTINELS && env.REDIS_SENTINEL_PASSWORD)
    problems.push("config: REDIS_SENTINELS is missing: REDIS_SENTINEL_PASSWORD is set; list the Sentinels as host:port,host:port,...");
  if (env.REDIS_CLUSTER_NODES && (env.REDIS_SENTINELS || env.REDIS_SENTINEL_NAME))
    problems.push(
      "config: REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: Hoist connects either to a Redis Cluster or to a master through Sentinel; unset one of them",
    );
  if (env.REDIS_CLUSTER_NODES && env.HOIST_QUEUE_PREFIX !== undefined && !HASH_TAG_PREFIX.test(env.HOIST_QUEUE_PREFIX)) {
    const tagged = `{${env.HOIST_QUEUE_PREFIX.replace(/[{}]/g, "")}}`;
    problems.push(
      `config: HOIST_QUEUE_PREFIX is invalid: "${env.HOIST_QUEUE_PREFIX}" on a Redis Cluster must be one hash tag in braces, e.g. ${tagged}, ` +
        "so that every key Hoist writes is in one slot (BullMQ's and the records' scripts each touch several keys, which a cluster refuses across slots: CROSSSLOT); " +
        `make the ACL file with the same prefix (node scripts/redis-acl.mjs <acl-file> '${tagged}')`,
    );
  }
  if (env.REDIS_CLUSTER_NODES && /\/\d+$/.test(new URL(env.REDIS_URL).pathname) && new URL(env.REDIS_URL).pathname !== "/0")
    problems.push("config: REDIS_URL is invalid: a Redis Cluster has only database 0; drop the /<db> from REDIS_URL");
  if (problems.length) throw new Error(problems.join("\n"));
  if (env.REDIS_CLUSTER_NODES) return { kind: "cluster", url: env.REDIS_URL, nodes: env.REDIS_CLUSTER_NODES };
  if (env.REDIS_SENTINELS && env.REDIS_SENTINEL_NAME) {
    return {
      kind: "sentinel",
      url: env.REDIS_URL,
      sentinels: env.REDIS_SENTINELS,
      name: env.REDIS_SENTINEL_NAME,
      sentinelPassword: env.REDIS_SENTINEL_PASSWORD,
    };
  }
  return { kind: "url", url: env.REDIS_URL };
}

/** For logs and errors: where the target is, never its passwords. */
export function describeTarget(target: RedisTarget | string): string {
  if (typeof target === "string" || target.kind === "url") {
    const url = new URL(typeof target === "string" ? target : target.url);
    return `${url.protocol}//${url.host}`;
  }
  if (target.kind === "cluster") return `Redis Cluster via ${target.nodes.map((n) => `${n.host}:${n.port}`).join(",")}`;
  return `master "${target.name}" via Sentinels ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(",")}`;
}
