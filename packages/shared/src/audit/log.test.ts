import { describe, expect, it } from "vitest";
import { maskSecrets } from "./log.js";

describe("maskSecrets: what the audit log keeps of a before/after", () => {
  it("masks every secret-named value at any depth, keeps the rest and whether a secret is set", () => {
    // A secret-named field keeps only what says whether it is set (null, a boolean, an object of booleans).
    const out = maskSecrets({
      branch: "main",
      slackWebhookUrl: "https://hooks.slack.com/services/T0/B0/xyz",
      outgoingWebhook: { url: "https://example.test/hook", secret: "whsec_abc" },
      env: { DATABASE_URL: "postgres://u:p@db/x" },
      services: [{ name: "web", apiToken: "tok" }],
      signingSecret: { configured: true },
      slack: { configured: false },
      webhookToken: { configured: true, value: "tok2" },
      deployKey: null,
      tagBuilds: true,
    });
    expect(out).toEqual({
      branch: "main",
      slackWebhookUrl: "••••",
      outgoingWebhook: { url: "https://example.test/hook", secret: "••••" },
      env: "••••",
      services: [{ name: "web", apiToken: "••••" }],
      signingSecret: { configured: true },
      slack: { configured: false },
      webhookToken: "••••",
      deployKey: null,
      tagBuilds: true,
    });
    expect(JSON.stringify(out)).not.toMatch(/xyz|whsec_abc|postgres|"tok"|tok2/);
  });
});
