import { describe, expect, it } from "vitest";
import { maskSecrets } from "./audit-log.js";

describe("maskSecrets: what the audit log keeps of a before/after", () => {
  it("masks every secret-named value at any depth, keeps the rest and whether a secret is set", () => {
    const out = maskSecrets({
      branch: "main",
      slackWebhookUrl: "https://hooks.slack.com/services/T0/B0/xyz",
      outgoingWebhook: { url: "https://example.test/hook", secret: "whsec_abc" },
      env: { DATABASE_URL: "postgres://u:p@db/x" },
      services: [{ name: "web", apiToken: "tok" }],
      signingSecret: { configured: true },
      deployKey: null,
      tagBuilds: true,
    });
    expect(out).toEqual({
      branch: "main",
      slackWebhookUrl: "••••",
      outgoingWebhook: { url: "https://example.test/hook", secret: "••••" },
      env: "••••",
      services: [{ name: "web", apiToken: "••••" }],
      signingSecret: "••••",
      deployKey: null,
      tagBuilds: true,
    });
    expect(JSON.stringify(out)).not.toMatch(/xyz|whsec_abc|postgres|"tok"/);
  });
});
