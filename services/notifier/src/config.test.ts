import { ConfigError, parseEnv } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { envSchema } from "./config.js";

describe("notifier env", () => {
  it("defaults the dashboard URL and the job lock, and leaves Slack unset", () => {
    const env = parseEnv(envSchema, {});
    expect(env.HOIST_PUBLIC_URL).toBe("http://localhost:8080");
    expect(env.HOIST_JOB_LOCK_MS).toBe(30_000);
    expect(env.HOIST_SECRET_CACHE_S).toBe(60);
    expect(env.HOIST_SLACK_WEBHOOK_URL).toBeUndefined();
    expect(env.HOIST_KMS).toBe("local");
  });

  it("names each bad variable without echoing a secret", () => {
    let err: unknown;
    try {
      parseEnv(envSchema, {
        HOIST_PUBLIC_URL: "hoist.example.com",
        HOIST_SLACK_WEBHOOK_URL: "T000/B000/sekrit",
        HOIST_JOB_LOCK_MS: "10",
        HOIST_SECRET_CACHE_S: "7200",
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const lines = (err as Error).message.split("\n");
    expect(lines).toEqual([
      "config: HOIST_PUBLIC_URL is invalid: an http(s) URL, e.g. https://hoist.example.com",
      "config: HOIST_SLACK_WEBHOOK_URL is invalid: a Slack incoming-webhook URL, https://hooks.slack.com/services/...",
      "config: HOIST_SECRET_CACHE_S is invalid: at most 3600 (an hour): a revoked KMS key must stop working soon",
      "config: HOIST_JOB_LOCK_MS is invalid: 1000 ms or more",
    ]);
    expect((err as Error).message).not.toContain("sekrit");
  });
});
