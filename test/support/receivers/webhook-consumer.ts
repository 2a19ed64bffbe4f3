import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { type PlannedAnswer, type ReceivedRequest, ReceiverBase } from "./http.js";

/** How old a webhook-timestamp may be (Standard Webhooks recommends five minutes). */
const TOLERANCE_S = 5 * 60;

/**
 * An outgoing-webhook consumer that verifies Standard Webhooks signatures
 * (https://www.standardwebhooks.com/): `webhook-signature` holds space-separated `v1,<base64>`
 * HMAC-SHA256 signatures of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64
 * part of the `whsec_` secret. Bad signatures or stale timestamps get 401; a repeated
 * `webhook-id` is acknowledged but not processed again, as consumers are told to do.
 */
export class WebhookConsumer extends ReceiverBase {
  readonly secret = `whsec_${randomBytes(24).toString("base64")}`;
  /** Events processed (first delivery of each webhook-id), in order. */
  readonly events: { id: string; timestamp: number; body: unknown }[] = [];
  readonly duplicates: string[] = [];
  readonly rejected: { reason: string }[] = [];

  constructor() {
    super((req) => this.answer(req));
  }

  get url(): string {
    return `${this.baseUrl}/hooks/hoist`;
  }

  verify(req: ReceivedRequest, now = Date.now()): string | undefined {
    const id = req.headers["webhook-id"];
    const ts = req.headers["webhook-timestamp"];
    const sigs = req.headers["webhook-signature"];
    if (typeof id !== "string" || typeof ts !== "string" || typeof sigs !== "string") return "missing webhook headers";
    if (!/^\d+$/.test(ts) || Math.abs(now / 1000 - Number(ts)) > TOLERANCE_S) return "timestamp outside tolerance";
    const key = Buffer.from(this.secret.slice("whsec_".length), "base64");
    const expected = createHmac("sha256", key).update(`${id}.${ts}.${req.rawBody}`).digest();
    const ok = sigs.split(" ").some((s) => {
      const [version, b64] = s.split(",");
      if (version !== "v1" || !b64) return false;
      const got = Buffer.from(b64, "base64");
      return got.length === expected.length && timingSafeEqual(got, expected);
    });
    return ok ? undefined : "no matching signature";
  }

  private answer(req: ReceivedRequest): PlannedAnswer {
    if (req.method !== "POST" || req.path !== "/hooks/hoist") return { status: 404, body: "not found" };
    const problem = this.verify(req);
    if (problem) {
      this.rejected.push({ reason: problem });
      return { status: 401, body: problem };
    }
    const id = req.headers["webhook-id"] as string;
    if (this.events.some((e) => e.id === id)) {
      this.duplicates.push(id);
      return { status: 204, body: "" };
    }
    this.events.push({ id, timestamp: Number(req.headers["webhook-timestamp"]), body: JSON.parse(req.rawBody) });
    return { status: 204, body: "" };
  }
}
