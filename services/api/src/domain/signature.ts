import { createHmac, timingSafeEqual } from "node:crypto";

/** Standard Webhooks (GitLab 19): deliveries older or newer than this are replays or clock trouble. */
export const SIGNATURE_TOLERANCE_S = 5 * 60;

type SignatureCheck = { ok: true } | { ok: false; reason: string };

/**
 * Verifies `webhook-signature` (space-separated `v1,<base64>` entries) over
 * `{webhook-id}.{webhook-timestamp}.{raw body}` with the `whsec_<base64>` secret.
 */
export function verifyStandardSignature(
  secret: string,
  headers: { id?: string; timestamp?: string; signature?: string },
  body: Buffer,
  nowS = Math.floor(Date.now() / 1000),
): SignatureCheck {
  if (!headers.id || !headers.timestamp || !headers.signature) {
    return { ok: false, reason: "missing webhook-id, webhook-timestamp or webhook-signature header" };
  }
  if (!/^\d{1,12}$/.test(headers.timestamp)) return { ok: false, reason: "webhook-timestamp is not a Unix time in seconds" };
  if (Math.abs(nowS - Number(headers.timestamp)) > SIGNATURE_TOLERANCE_S) {
    return { ok: false, reason: "webhook-timestamp is more than 5 minutes off; check the clocks" };
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${headers.id}.${headers.timestamp}.`).update(body).digest();
  for (const entry of headers.signature.split(" ")) {
    const [version, sig] = entry.split(",", 2);
    if (version !== "v1" || !sig) continue;
    const given = Buffer.from(sig, "base64");
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true };
  }
  return { ok: false, reason: "webhook-signature does not match" };
}

/** Signs like GitLab does; used by tests and the benchmark's client. */
export function signStandard(secret: string, id: string, timestamp: number, body: string | Buffer): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64")}`;
}
