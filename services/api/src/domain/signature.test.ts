import { describe, expect, it } from "vitest";
import { signStandard, verifyStandardSignature } from "./signature.js";
import { hashToken, newSigningSecret, newWebhookToken } from "./tokens.js";

describe("Standard Webhooks signatures", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const body = Buffer.from('{"test": 2432232314}');

  it("matches the Standard Webhooks reference vector", () => {
    // From the standard-webhooks spec's test suite: id msg_p5jXN8AQM9LWM0D4loKWxJek, timestamp 1614265330.
    expect(signStandard(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("accepts a valid signature among several and rejects wrong, stale or missing ones", () => {
    const now = 1_700_000_000;
    const sig = signStandard(secret, "msg_1", now, body);
    expect(verifyStandardSignature(secret, { id: "msg_1", timestamp: String(now), signature: `v1,bm9wZQ== ${sig}` }, body, now)).toEqual({
      ok: true,
    });
    expect(verifyStandardSignature(secret, { id: "msg_2", timestamp: String(now), signature: sig }, body, now).ok).toBe(false);
    expect(verifyStandardSignature(secret, { id: "msg_1", timestamp: String(now), signature: sig }, body, now + 301)).toMatchObject({
      ok: false,
      reason: /5 minutes/,
    });
    expect(verifyStandardSignature(secret, { id: "msg_1", timestamp: String(now), signature: sig }, body, now - 299).ok).toBe(true);
    expect(verifyStandardSignature(secret, { id: "msg_1", timestamp: "soon", signature: sig }, body, now).ok).toBe(false);
    expect(verifyStandardSignature(secret, { id: "msg_1" }, body, now)).toMatchObject({ ok: false, reason: /missing/ });
  });
});

describe("tokens", () => {
  it("are random, 256-bit, and stored only as a hash", () => {
    const t = newWebhookToken();
    expect(Buffer.from(t, "base64url")).toHaveLength(32);
    expect(newWebhookToken()).not.toBe(t);
    expect(hashToken(t)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(hashToken(t)).not.toContain(t);
    expect(newSigningSecret()).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  });
});
