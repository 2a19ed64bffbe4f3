import { concurrencySchema, outboundEnvSchema, registrySecretEnvSchema, secretsEnvSchema, workerEnvSchema } from "@hoist/shared";
import { z } from "zod";

const ms = (what: string, min: number) =>
  z.coerce
    .number({ error: `a whole number of milliseconds (${what})` })
    .int("a whole number of milliseconds")
    .min(min, `at least ${min} ms`);

/** A Caddy listen address: `[host]:port`. */
const LISTEN = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]*):\d{1,5}$/;

export const envSchema = workerEnvSchema.merge(secretsEnvSchema).extend({
  HOIST_CONCURRENCY: concurrencySchema,
  /** How long a per-app deploy lock outlives a holder that stopped renewing it (crashed). */
  HOIST_DEPLOY_LOCK_TTL_MS: ms("lock TTL", 1_000).default(30_000),
  /** How long a deploy that finds its app locked waits (delayed, not holding a worker slot) before trying again. */
  HOIST_DEPLOY_LOCK_RETRY_MS: ms("lock retry delay", 50).default(2_000),
  /** BullMQ job lock duration and stalled-job check interval: a deploy whose worker died is taken over after about this long. */
  HOIST_DEPLOY_STALLED_MS: ms("stalled-job interval", 500).default(30_000),
  /** How often an ECS rollout is polled (DescribeServices). */
  HOIST_ECS_POLL_MS: ms("ECS poll interval", 10).default(5_000),
  /** How long an ECS rollout may take before it counts as failed and the service is set back, unless the app's target sets rolloutTimeout. */
  HOIST_ECS_ROLLOUT_TIMEOUT_S: z.coerce.number().int().min(1).max(86_400).default(900),
  /** Seconds a local container gets between SIGTERM and SIGKILL when it is swapped out. */
  HOIST_LOCAL_STOP_TIMEOUT_S: z.coerce.number().int().min(0).max(300).default(5),
  /** Admin endpoint of the Caddy that serves local-target apps; unset: the deployer starts its own (Debian's `caddy`) on loopback. */
  HOIST_CADDY_ADMIN_URL: z.url({ error: "the URL of Caddy's admin endpoint, such as http://127.0.0.1:2019" }).optional(),
  /** Where Caddy serves host routes (`hosts` of local services, previews): comma-separated listen addresses. */
  HOIST_CADDY_HOSTS_LISTEN: z
    .string()
    .default(":443")
    .transform((v) =>
      v
        .split(",")
        .map((a) => a.trim())
        .filter(Boolean),
    )
    .refine((list) => list.length > 0 && list.every((a) => LISTEN.test(a)), {
      error: "comma-separated listen addresses, each [host]:port, such as :443 or 127.0.0.1:8443",
    }),
  /** Host routes as plain HTTP (no TLS; for a TLS-terminating proxy in front, or `.localhost` previews): `true`/`false`. */
  HOIST_CADDY_HOSTS_HTTP: z
    .enum(["true", "false"], { error: "true or false" })
    .default("false")
    .transform((v) => v === "true"),
  /** The domain of merge request previews' hosts: `{domain}` in an app's `previews.hosts` (as the API's). */
  HOIST_APPS_DOMAIN: z
    .string()
    .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "a lowercase DNS name such as apps.example.com")
    .default("localhost"),
  /** Seconds switched-out local containers get to finish their requests in flight before they are stopped. */
  HOIST_LOCAL_DRAIN_S: z.coerce.number().int().min(0).max(3600).default(10),
  /** Seconds between two reconciles of Caddy and the local containers with the records (also done at start). */
  HOIST_LOCAL_RECONCILE_S: z.coerce.number().int().min(1).max(86_400).default(30),
  /** The builder's registry (`host[:port][/namespace]`): with the registry secret, the local target pulls from it as the deployer user. */
  HOIST_REGISTRY: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, "host[:port][/namespace] of an image registry, as the builder's")
    .optional(),
  /** The registry over plain HTTP / without verifying TLS (as the builder's); loopback registries are plain HTTP anyway. */
  HOIST_REGISTRY_INSECURE: z
    .enum(["true", "false", "1", "0"], { error: "true or false" })
    .default("false")
    .transform((v) => v === "true" || v === "1"),
  ...registrySecretEnvSchema.shape,
  // GitLab freeze periods: a GitLab inside your network is reached only when listed here.
  ...outboundEnvSchema.shape,
});
export type Env = z.infer<typeof envSchema>;
