import { signStandard } from "../../services/api/src/domain/signature.js";

export interface Delivery {
  event?: string;
  token?: string;
  idempotencyKey?: string;
  body: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

/** Sends a delivery the way GitLab does (headers included) and returns status and JSON body. */
// biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
export async function deliver(url: string, d: Delivery): Promise<{ status: number; body: any; ms: number }> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "GitLab/18.6.0",
    "x-gitlab-instance": "https://gitlab.example.com",
    "x-gitlab-webhook-uuid": crypto.randomUUID(),
    "x-gitlab-event-uuid": crypto.randomUUID(),
    ...(d.event ? { "x-gitlab-event": d.event } : {}),
    ...(d.token !== undefined ? { "x-gitlab-token": d.token } : {}),
    ...(d.idempotencyKey ? { "idempotency-key": d.idempotencyKey } : {}),
    ...d.headers,
  };
  const t0 = performance.now();
  const res = await fetch(url, { method: "POST", headers, body: d.raw ?? JSON.stringify(d.body) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, ms: performance.now() - t0 };
}

/** Standard Webhooks headers for a body, as GitLab 19 signs it. */
export function signedHeaders(secret: string, body: string, at = Math.floor(Date.now() / 1000)): Record<string, string> {
  const id = `msg_${crypto.randomUUID()}`;
  return { "webhook-id": id, "webhook-timestamp": String(at), "webhook-signature": signStandard(secret, id, at, body) };
}
