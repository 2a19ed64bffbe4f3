import { classifyHttpAnswer, networkReason } from "../domain/delivery.js";
import { TransientDeliveryError } from "../domain/errors.js";

export const WEBHOOK_TIMEOUT_MS = 10_000;

/** POSTs a signed event body; redirects are not followed (a signed delivery goes where it was configured). */
export async function postWebhook(url: string, body: string, headers: Record<string, string>, timeoutMs = WEBHOOK_TIMEOUT_MS) {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { ...headers, "user-agent": "Hoist-Webhooks/1" },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new TransientDeliveryError(`webhook ${new URL(url).host} did not answer (${networkReason(err)})`);
  }
  const text = await res.text().catch(() => "");
  const failure = classifyHttpAnswer(`webhook ${new URL(url).host}`, res.status, text, res.headers.get("retry-after"));
  if (failure) throw failure;
}
