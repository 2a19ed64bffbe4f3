import { describe, expect, it } from "vitest";
import { classifyHttpAnswer, MAX_RETRY_AFTER_MS, networkReason, parseRetryAfter } from "./delivery.js";
import { PermanentDeliveryError, TransientDeliveryError } from "./errors.js";

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it("reads delay-seconds and HTTP-dates", () => {
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter("0", now)).toBe(0);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5000);
  });
  it("treats past dates as now, caps long pauses and ignores junk", () => {
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("999999", now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("-3", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter("", now)).toBeUndefined();
  });
});

describe("classifyHttpAnswer", () => {
  it("accepts 2xx", () => {
    expect(classifyHttpAnswer("Slack", 200, "ok", null)).toBeUndefined();
    expect(classifyHttpAnswer("Slack", 204, "", null)).toBeUndefined();
  });
  it("retries 429, 408 and 5xx, carrying Retry-After", () => {
    const e = classifyHttpAnswer("Slack", 429, "rate_limited", "7");
    expect(e).toBeInstanceOf(TransientDeliveryError);
    expect(e?.message).toBe("Slack answered 429: rate_limited");
    expect((e as TransientDeliveryError).retryAfterMs).toBe(7000);
    expect(classifyHttpAnswer("Slack", 500, "boom", null)).toBeInstanceOf(TransientDeliveryError);
    expect(classifyHttpAnswer("Slack", 503, "", null)?.message).toBe("Slack answered 503");
    expect(classifyHttpAnswer("x", 408, "", null)).toBeInstanceOf(TransientDeliveryError);
  });
  it("fails other 4xx and redirects permanently with the answer", () => {
    const e = classifyHttpAnswer("Slack", 404, "no_service", null);
    expect(e).toBeInstanceOf(PermanentDeliveryError);
    expect(e?.message).toBe("Slack answered 404: no_service");
    expect(classifyHttpAnswer("Slack", 400, "invalid_payload\n", null)?.message).toBe("Slack answered 400: invalid_payload");
    expect(classifyHttpAnswer("webhook", 301, "", null)).toBeInstanceOf(PermanentDeliveryError);
  });
  it("keeps at most 300 characters of an answer", () => {
    const e = classifyHttpAnswer("webhook", 400, "x".repeat(1000), null);
    expect(e?.message).toBe(`webhook answered 400: ${"x".repeat(300)}…`);
  });
});

describe("networkReason", () => {
  it("names the code of the cause, never the URL", () => {
    const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(networkReason(new TypeError("fetch failed", { cause }))).toBe("ECONNREFUSED");
    expect(networkReason(new DOMException("t", "TimeoutError"))).toBe("timeout");
    expect(networkReason("weird")).toBe("network error");
  });
});
