import { concurrencySchema, outboundEnvSchema, secretsEnvSchema, workerEnvSchema } from "@hoist/shared";
import { z } from "zod";

export const envSchema = workerEnvSchema
  .extend(secretsEnvSchema.shape)
  .extend(outboundEnvSchema.shape)
  .extend({
    HOIST_CONCURRENCY: concurrencySchema,
    /** Base of dashboard links in messages and commit statuses. */
    HOIST_PUBLIC_URL: z
      .url({ protocol: /^https?$/, error: "an http(s) URL, e.g. https://hoist.example.com" })
      .default("http://localhost:8080"),
    /** Slack incoming webhook for apps that have none of their own. A secret. */
    HOIST_SLACK_WEBHOOK_URL: z
      .url({ protocol: /^https?$/, error: "a Slack incoming-webhook URL, https://hooks.slack.com/services/..." })
      .optional(),
    /** Seconds an opened secret (Slack URL, webhook secret, GitLab token) is kept in memory; 0: opened for every message. */
    HOIST_SECRET_CACHE_S: z.coerce
      .number({ error: "a whole number of seconds, 0 to 3600" })
      .int("a whole number of seconds")
      .min(0, "0 (off) or more")
      .max(3600, "at most 3600 (an hour): a revoked KMS key must stop working soon")
      .default(60),
    /** How long a job's lock lasts unrenewed: a crashed notifier's job is taken over after about this long. */
    HOIST_JOB_LOCK_MS: z.coerce
      .number({ error: "a whole number of milliseconds, 1000 or more" })
      .int("a whole number of milliseconds")
      .min(1_000, "1000 ms or more")
      .default(30_000),
  });
export type Env = z.infer<typeof envSchema>;
