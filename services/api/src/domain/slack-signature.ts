import { createHmac, timingSafeEqual } from "node:crypto";

/** Slack's rule: a request whose timestamp is more than five minutes off is refused (a replay, or clock trouble). */
const SLACK_TOLERANCE_S = 5 * 60;

type SlackCheck = { ok: true } | { ok: false; reason: string };

/**
 * Verifies a request from Slack (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, keyed with the app's signing secret, of
 * `v0:<X-Slack-Request-Timestamp>:<raw body>`; the timestamp within five minutes of `nowS`; the
 * comparison in constant time.
 */
export function verifySlackSignature(
  secret: string,
  headers: { timestamp?: string | undefined; signature?: string | undefined },
  body: Buffer,
  nowS = Math.floor(Date.now() / 1000),
): SlackCheck {
  if (!headers.timestamp || !headers.signature) {
    return { ok: false, reason: "missing X-Slack-Request-Timestamp or X-Slack-Signature" };
  }
  if (!/^\d{1,12}$/.test(headers.timestamp)) return { ok: false, reason: "X-Slack-Request-Timestamp is not a Unix time in seconds" };
  if (Math.abs(nowS - Number(headers.timestamp)) > SLACK_TOLERANCE_S) {
    return { ok: false, reason: "X-Slack-Request-Timestamp is more than 5 minutes off (a replay, or check the clocks)" };
  }
  const m = /^v0=([0-9a-f]{64})$/.exec(headers.signature);
  if (!m?.[1]) return { ok: false, reason: "X-Slack-Signature is not v0=<64 hex digits>" };
  const expected = createHmac("sha256", secret).update(`v0:${headers.timestamp}:`).update(body).digest();
  const given = Buffer.from(m[1], "hex");
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? { ok: true }
    : { ok: false, reason: "X-Slack-Signature does not match (HOIST_SLACK_SIGNING_SECRET is the Slack app's signing secret?)" };
}

/** Signs as Slack does: for tests. */
export function signSlack(secret: string, timestamp: number, body: string | Buffer): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:`).update(body).digest("hex")}`;
}
