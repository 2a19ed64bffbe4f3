import { commonEnvSchema, localReposEnvSchema, outboundEnvSchema, secretsEnvSchema } from "@hoist/shared";
import { z } from "zod";

const MIB = 1024 * 1024;

export const envSchema = commonEnvSchema
  .extend(secretsEnvSchema.shape)
  .extend(localReposEnvSchema.shape)
  .extend(outboundEnvSchema.shape)
  .extend({
    HOIST_PORT: z.coerce.number({ error: "a TCP port number, 0-65535" }).int("a TCP port number, 0-65535").min(0).max(65535).default(8080),
    HOIST_HOST: z.string().min(1).default("0.0.0.0"),
    HOIST_API_TOKEN: z
      .string({ error: "a random string of 32+ characters that API clients send as Authorization: Bearer <token>" })
      .min(32, "at least 32 characters (e.g. openssl rand -hex 32)"),
    /** Where GitLab reaches this API: the base of every webhook URL Hoist hands out. */
    HOIST_PUBLIC_URL: z
      .url({ protocol: /^https?$/, error: "an http(s) URL GitLab can reach, e.g. https://hoist.example.com" })
      .transform((u) => u.replace(/\/+$/, ""))
      .optional(),
    /** The domain of previews' hosts (`{domain}` in an app's `previews.hosts`: mr-42.web.<domain>). */
    HOIST_APPS_DOMAIN: z
      .string()
      .max(200, "at most 200 characters")
      .regex(
        /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
        "a lowercase DNS name whose subdomains reach Hoist's Caddy, e.g. apps.example.com (a wildcard DNS record *.apps.example.com)",
      )
      .default("localhost"),
    HOIST_WEBHOOK_MAX_BYTES: z.coerce
      .number({ error: "a whole number of bytes" })
      .int("a whole number of bytes")
      .min(1024, "at least 1024 bytes")
      .max(64 * MIB, "at most 64 MiB")
      .default(MIB),
    /** Sign in with GitLab (OAuth 2 + OIDC): the GitLab instance and the application's id and secret. */
    HOIST_GITLAB_OAUTH_URL: z
      .url({ protocol: /^https?$/, error: "the GitLab instance's URL, e.g. https://gitlab.example.com" })
      .transform((u) => u.replace(/\/+$/, ""))
      .optional(),
    HOIST_GITLAB_OAUTH_CLIENT_ID: z.string().min(1).optional(),
    HOIST_GITLAB_OAUTH_CLIENT_SECRET: z.string().min(1).optional(),
    /** The Slack app's signing secret: POST /slack/actions (Approve / Reject buttons) verifies every request with it. */
    HOIST_SLACK_SIGNING_SECRET: z.string().min(16, "the Slack app's signing secret (Basic Information > App Credentials)").optional(),
    /** Slack user id → GitLab user id (a Hoist person): who a button click in Slack acts as. */
    HOIST_SLACK_USERS: z
      .string()
      .default("")
      .transform((text, ctx): Record<string, string> => {
        const map: Record<string, string> = {};
        for (const pair of text
          .split(",")
          .map((p) => p.trim())
          .filter(Boolean)) {
          const m = /^([A-Z0-9]{2,32})=(\d{1,12})$/.exec(pair);
          if (!m?.[1] || !m[2]) {
            ctx.addIssue({ code: "custom", message: `"${pair}" is not <Slack user id>=<GitLab user id>, e.g. U024BE7LH=42` });
            return z.NEVER;
          }
          map[m[1]] = m[2];
        }
        return map;
      }),
  })
  .superRefine((env, ctx) => {
    const oauth = ["HOIST_GITLAB_OAUTH_URL", "HOIST_GITLAB_OAUTH_CLIENT_ID", "HOIST_GITLAB_OAUTH_CLIENT_SECRET"] as const;
    const set = oauth.filter((k) => env[k] !== undefined);
    if (set.length > 0 && set.length < oauth.length) {
      for (const k of oauth.filter((k) => env[k] === undefined))
        ctx.addIssue({
          code: "custom",
          path: [k],
          message: `required with ${set.join(", ")}: sign-in with GitLab needs the instance URL and the OAuth application's id and secret (GitLab: Admin > Applications, scopes openid profile email)`,
        });
    }
    const url = env.HOIST_GITLAB_OAUTH_URL;
    if (url?.startsWith("http://") && !/^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(:\d+)?$/.test(url))
      ctx.addIssue({
        code: "custom",
        path: ["HOIST_GITLAB_OAUTH_URL"],
        message: "must be https:// (plain http only for a GitLab on loopback)",
      });
    if (env.HOIST_KMS === "aws" && !env.HOIST_KMS_KEY_ID) {
      ctx.addIssue({
        code: "custom",
        path: ["HOIST_KMS_KEY_ID"],
        message: "required with HOIST_KMS=aws: the id, ARN or alias of a symmetric KMS key",
      });
    }
  })
  .transform((env) => ({ ...env, HOIST_PUBLIC_URL: env.HOIST_PUBLIC_URL ?? `http://localhost:${env.HOIST_PORT}` }));
export type Env = z.infer<typeof envSchema>;
