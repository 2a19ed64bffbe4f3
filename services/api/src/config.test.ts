import { describe, expect, it } from "vitest";
import { envSchema } from "./config.js";

const base = { HOIST_API_TOKEN: "t".repeat(32) };
const oauth = {
  HOIST_GITLAB_OAUTH_URL: "https://gitlab.example.com/",
  HOIST_GITLAB_OAUTH_CLIENT_ID: "app-id",
  HOIST_GITLAB_OAUTH_CLIENT_SECRET: "app-secret",
};

const messages = (env: Record<string, string>) => {
  const r = envSchema.safeParse({ ...base, ...env });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("the API's env: sign-in with GitLab and the audit log", () => {
  it("defaults: no GitLab sign-in, a year of audit log", () => {
    const env = envSchema.parse(base);
    expect(env.HOIST_GITLAB_OAUTH_URL).toBeUndefined();
    expect(env.HOIST_AUDIT_RETENTION_DAYS).toBe(365);
  });

  it("takes the three OAuth settings together, the URL without its trailing slash", () => {
    const env = envSchema.parse({ ...base, ...oauth, HOIST_AUDIT_RETENTION_DAYS: "30" });
    expect(env.HOIST_GITLAB_OAUTH_URL).toBe("https://gitlab.example.com");
    expect(env.HOIST_GITLAB_OAUTH_CLIENT_ID).toBe("app-id");
    expect(env.HOIST_AUDIT_RETENTION_DAYS).toBe(30);
  });

  it("says which OAuth setting is missing when only some are set", () => {
    const out = messages({ HOIST_GITLAB_OAUTH_URL: oauth.HOIST_GITLAB_OAUTH_URL });
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^HOIST_GITLAB_OAUTH_CLIENT_ID: required with HOIST_GITLAB_OAUTH_URL/);
    expect(out[1]).toMatch(/^HOIST_GITLAB_OAUTH_CLIENT_SECRET: required with HOIST_GITLAB_OAUTH_URL/);
  });

  it("refuses plain http but for a GitLab on loopback, and retention out of range", () => {
    expect(messages({ ...oauth, HOIST_GITLAB_OAUTH_URL: "http://gitlab.example.com" })).toEqual([
      "HOIST_GITLAB_OAUTH_URL: must be https:// (plain http only for a GitLab on loopback)",
    ]);
    expect(messages({ ...oauth, HOIST_GITLAB_OAUTH_URL: "http://127.0.0.1:8929" })).toEqual([]);
    expect(messages({ HOIST_AUDIT_RETENTION_DAYS: "0" })).toEqual(["HOIST_AUDIT_RETENTION_DAYS: at least 1 day"]);
  });
});

describe("the API's env: Slack buttons", () => {
  it("defaults: no signing secret (POST /slack/actions is off), nobody linked", () => {
    const env = envSchema.parse(base);
    expect(env.HOIST_SLACK_SIGNING_SECRET).toBeUndefined();
    expect(env.HOIST_SLACK_USERS).toEqual({});
  });

  it("links Slack users to GitLab user ids", () => {
    const env = envSchema.parse({ ...base, HOIST_SLACK_SIGNING_SECRET: "s".repeat(32), HOIST_SLACK_USERS: "U024BE7LH=42, W0G9QF9C6=7" });
    expect(env.HOIST_SLACK_USERS).toEqual({ U024BE7LH: "42", W0G9QF9C6: "7" });
  });

  it("names a bad pair and a short secret", () => {
    expect(messages({ HOIST_SLACK_USERS: "U024BE7LH:42" })).toEqual([
      'HOIST_SLACK_USERS: "U024BE7LH:42" is not <Slack user id>=<GitLab user id>, e.g. U024BE7LH=42',
    ]);
    expect(messages({ HOIST_SLACK_SIGNING_SECRET: "short" })[0]).toMatch(/^HOIST_SLACK_SIGNING_SECRET: the Slack app's signing secret/);
  });
});

describe("the API's env: previews' domain", () => {
  it("defaults HOIST_APPS_DOMAIN to localhost and takes a lowercase DNS name", () => {
    expect(envSchema.parse(base).HOIST_APPS_DOMAIN).toBe("localhost");
    expect(envSchema.parse({ ...base, HOIST_APPS_DOMAIN: "apps.example.com" }).HOIST_APPS_DOMAIN).toBe("apps.example.com");
  });

  it("refuses a URL, a wildcard or capitals, saying what it wants", () => {
    for (const bad of ["https://apps.example.com", "*.apps.example.com", "Apps.Example.com"]) {
      expect(messages({ HOIST_APPS_DOMAIN: bad })).toEqual([
        "HOIST_APPS_DOMAIN: a lowercase DNS name whose subdomains reach Hoist's Caddy, e.g. apps.example.com (a wildcard DNS record *.apps.example.com)",
      ]);
    }
  });
});
