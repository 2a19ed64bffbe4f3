import { describe, expect, it } from "vitest";
import { signSlack, verifySlackSignature } from "./slack-signature.js";

const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const NOW = 1_700_000_000;
const body = Buffer.from("payload=%7B%22type%22%3A%22block_actions%22%7D");

describe("verifySlackSignature", () => {
  it("accepts Slack's v0 signature of v0:<timestamp>:<raw body>", () => {
    const signature = signSlack(SECRET, NOW, body);
    expect(signature).toMatch(/^v0=[0-9a-f]{64}$/);
    expect(verifySlackSignature(SECRET, { timestamp: String(NOW), signature }, body, NOW)).toEqual({ ok: true });
    // Within five minutes either way.
    expect(verifySlackSignature(SECRET, { timestamp: String(NOW), signature }, body, NOW + 300).ok).toBe(true);
    expect(verifySlackSignature(SECRET, { timestamp: String(NOW), signature }, body, NOW - 300).ok).toBe(true);
  });

  it("refuses another secret, another body, another timestamp and a stale or future timestamp", () => {
    const signature = signSlack(SECRET, NOW, body);
    const check = (secret: string, ts: number, b: Buffer, now = NOW) =>
      verifySlackSignature(secret, { timestamp: String(ts), signature }, b, now);
    expect(check("another-secret", NOW, body)).toMatchObject({ ok: false, reason: expect.stringContaining("does not match") });
    expect(check(SECRET, NOW, Buffer.concat([body, Buffer.from("x")])).ok).toBe(false);
    expect(check(SECRET, NOW + 1, body, NOW + 1).ok).toBe(false);
    expect(check(SECRET, NOW, body, NOW + 301)).toMatchObject({ ok: false, reason: expect.stringContaining("5 minutes") });
    expect(check(SECRET, NOW, body, NOW - 301).ok).toBe(false);
  });

  it("says what is missing or malformed", () => {
    expect(verifySlackSignature(SECRET, {}, body, NOW)).toMatchObject({ ok: false, reason: expect.stringContaining("missing") });
    expect(verifySlackSignature(SECRET, { timestamp: "soon", signature: "v0=00" }, body, NOW).ok).toBe(false);
    const sig = signSlack(SECRET, NOW, body);
    expect(verifySlackSignature(SECRET, { timestamp: String(NOW), signature: sig.replace("v0=", "v1=") }, body, NOW)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("v0=<64 hex digits>"),
    });
    expect(verifySlackSignature(SECRET, { timestamp: String(NOW), signature: sig.slice(0, -2) }, body, NOW).ok).toBe(false);
  });
});
