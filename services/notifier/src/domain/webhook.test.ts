import { describe, expect, it } from "vitest";
import { appFixture, buildFixture, ctxFixture } from "../testing/fixtures.js";
import { signWebhook, webhookBody, webhookHeaders, webhookId } from "./webhook.js";

describe("Standard Webhooks signing", () => {
  it("matches the specification's test vector", () => {
    // From the Standard Webhooks reference implementations' tests.
    const sig = signWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
    expect(sig).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("sets id, timestamp and signature headers", () => {
    const h = webhookHeaders("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", "{}", new Date(1_700_000_000_500));
    expect(h["webhook-id"]).toBe("msg_1");
    expect(h["webhook-timestamp"]).toBe("1700000000");
    expect(h["webhook-signature"]).toBe(signWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1700000000, "{}"));
  });

  it("refuses secrets that are not whsec_<base64> keys, without echoing them", () => {
    expect(() => signWebhook("hunter2", "m", 1, "{}")).toThrow(/not a whsec_<base64> key/);
    expect(() => signWebhook("hunter2", "m", 1, "{}")).not.toThrow(/hunter2/);
  });

  it("keeps webhook-id stable per event and destination", () => {
    const a = webhookId("release.live", "rel_1", "https://a.example/hook");
    expect(webhookId("release.live", "rel_1", "https://a.example/hook")).toBe(a);
    expect(webhookId("release.failed", "rel_1", "https://a.example/hook")).not.toBe(a);
    expect(webhookId("release.live", "rel_1", "https://b.example/hook")).not.toBe(a);
    expect(a).toMatch(/^msg_[A-Za-z0-9_-]{27}$/);
  });
});

describe("webhookBody", () => {
  it("carries type, the event's time and the records without secrets", () => {
    const sealed = {
      v: 1 as const,
      provider: "local" as const,
      encryptedKey: "SECRETKEY",
      keyId: "k",
      iv: "i",
      tag: "t",
      ciphertext: "SECRETCT",
    };
    const ctx = ctxFixture("release.live", {
      app: appFixture({
        hookId: "hook-routing-id",
        webhookTokenHash: "HASH",
        slackWebhookUrl: sealed,
        env: sealed,
        outgoingWebhook: { url: "https://a.example", secret: sealed },
      }),
      build: buildFixture({ logTail: ["SECRET_FROM_LOG"] }),
    });
    const body = webhookBody(ctx);
    expect(body.type).toBe("release.live");
    expect(body.timestamp).toBe("2026-01-01T10:04:12.000Z");
    expect(body.data).toMatchObject({
      app: { name: "shop", branch: "main", target: "local", gitlab: { projectId: 42 } },
      build: { id: "bld_abc", number: 12, sha: buildFixture().sha, url: "https://hoist.example.com/builds/bld_abc" },
      release: { id: "rel_xyz", number: 3, status: "live", liveAt: "2026-01-01T10:04:12.000Z" },
    });
    const json = JSON.stringify(body);
    for (const secret of ["SECRETKEY", "SECRETCT", "hook-routing-id", "HASH", "SECRET_FROM_LOG"]) expect(json).not.toContain(secret);
  });

  it("has release null for build events", () => {
    expect(webhookBody(ctxFixture("build.running")).data.release).toBeNull();
  });
});
