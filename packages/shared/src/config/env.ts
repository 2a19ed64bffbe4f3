import { z } from "zod";
import { redisNodesSchema } from "../redis/target.js";

/** Variables every Hoist process reads. Each service extends this with its own. */
export const commonEnvSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379")
    .default("redis://127.0.0.1:6379"),
  /** Sentinels to ask for the master (host:port,...); REDIS_URL then gives only the user, password, db and TLS. */
  REDIS_SENTINELS: redisNodesSchema.optional(),
  /** The master's name in the Sentinels' `sentinel monitor <name> ...`. */
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, "the master name the Sentinels monitor (letters, digits, '.', '_' or '-'), e.g. hoist")
    .optional(),
  /** The Sentinels' own password (their requirepass), when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  /** Some nodes of a Redis Cluster (host:port,...); REDIS_URL then gives only the user, password and TLS. */
  REDIS_CLUSTER_NODES: redisNodesSchema.optional(),
  HOIST_QUEUE_PREFIX: z
    .string()
    .regex(
      /^(\{[A-Za-z0-9_.-]+\}|[A-Za-z0-9_.-]+)$/,
      "letters, digits, '.', '_' or '-', optionally wrapped in {braces} for Redis Cluster, e.g. hoist or {hoist}",
    )
    .default("hoist"),
  HOIST_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  HOIST_DATA_DIR: z.string().min(1, "a directory path").default("./.hoist"),
  /** Days finished builds, and releases no longer live, are kept (with their logs); the live release and its build are kept while live. */
  HOIST_RETENTION_DAYS: z.coerce
    .number({ error: "a number of days, e.g. 30" })
    .positive("more than 0 days")
    .max(3650, "at most 3650 days")
    .default(30),
  /** Days the audit log keeps an entry: every service appends to it (the workers their secret openings) and trims it by age. */
  HOIST_AUDIT_RETENTION_DAYS: z.coerce
    .number({ error: "a whole number of days" })
    .int("a whole number of days")
    .min(1, "at least 1 day")
    .max(3650, "at most 3650 days")
    .default(365),
  /** Bearer token Prometheus sends to /metrics; without one, metrics are served only by servers bound to loopback. */
  HOIST_METRICS_TOKEN: z.string().min(16, "at least 16 characters (e.g. openssl rand -hex 24)").optional(),
  HOIST_SHUTDOWN_TIMEOUT_MS: z.coerce
    .number({ error: "a whole number of milliseconds" })
    .int("a whole number of milliseconds")
    .min(0, "0 or more milliseconds")
    .default(30_000),
});

export type CommonEnv = z.infer<typeof commonEnvSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Env vars set to the empty string count as unset, as shells and compose files tend to produce them. */
function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") out[k] = v;
  return out;
}

/**
 * Parses `env` with `schema`. On failure throws a ConfigError whose message is one line per bad
 * variable: its name, what it should be, and what was wrong.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(withoutEmpty(env));
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.map(String).join(".") || "(environment)";
    const got = typeof issue.path[0] === "string" ? env[issue.path[0]] : undefined;
    const what = got === undefined ? "is missing" : "is invalid";
    return `config: ${name} ${what}: ${issue.message}`;
  });
  throw new ConfigError(lines.join("\n"));
}

/** For a service's main: parse or print the readable error and exit(78, EX_CONFIG). */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  try {
    return parseEnv(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/**
 * Workers' health endpoint (GET /healthz, GET /metrics); unset or 0 means none. Loopback by
 * default: a container's own health check reaches it, nothing else does.
 */
export const workerEnvSchema = commonEnvSchema.extend({
  HOIST_HEALTH_PORT: z.coerce.number({ error: "a TCP port number, 0-65535" }).int().min(0).max(65535).default(0),
  HOIST_HEALTH_HOST: z.string().min(1).default("127.0.0.1"),
  /** How often a worker probes its dependencies (the Docker API, a registry) for /healthz and the dashboard. */
  HOIST_DEPENDENCY_CHECK_MS: z.coerce
    .number({ error: "a whole number of milliseconds" })
    .int("a whole number of milliseconds")
    .min(250, "at least 250 milliseconds")
    .max(300_000, "at most 300000 milliseconds (5 minutes)")
    .default(5_000),
  /**
   * A worker whose Redis connection is ready but that has not fetched a job (nor been told there
   * is none) for this long while jobs wait is closed and created again (BullMQ's "alive but stuck").
   */
  HOIST_WORKER_STUCK_S: z.coerce
    .number({ error: "a whole number of seconds" })
    .int("a whole number of seconds")
    .min(10, "at least 10 seconds (a blocking wait lasts up to 5 s)")
    .max(3600, "at most 3600 seconds")
    .default(60),
});

export const concurrencySchema = z.coerce
  .number({ error: "a whole number of jobs, 1-256" })
  .int("a whole number")
  .min(1, "at least 1")
  .max(256, "at most 256")
  .default(2);

/**
 * HOIST_LOCAL_REPOS: apps may build from a repository on this machine (an absolute path or a
 * file:// URL), cloned without a deploy key. On under `pnpm start`; off in production, where a
 * path names the API's or builder's own disk.
 */
export const localReposEnvSchema = z.object({
  HOIST_LOCAL_REPOS: z
    .enum(["true", "false", "1", "0"], { error: "true or false" })
    .default("false")
    .transform((v) => v === "true" || v === "1"),
});
