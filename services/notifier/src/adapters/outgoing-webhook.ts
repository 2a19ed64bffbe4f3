import { type OutboundFetch, outboundRefusal } from "@hoist/shared";
import { classifyHttpAnswer, networkReason } from "../domain/delivery.js";
import { PermanentDeliveryError, TransientDeliveryError } from "../domain/errors.js";

const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * POSTs a signed event body through the notifier's outbound fetch: redirects are not followed (a
 * signed delivery goes where it was configured) and an internal address is refused for good.
 */
export async function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  fetch: OutboundFetch,
  timeoutMs = WEBHOOK_TIMEOUT_MS,
) {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { ...headers, "user-agent": "Hoist-Webhooks/1" },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const refusal = outboundRefusal(err);
    if (refusal) throw new PermanentDeliveryError(`webhook ${refusal.message}`);
    throw new TransientDeliveryError(`webhook ${new URL(url).host} did not answer (${networkReason(err)})`);
  }
  const text = await res.text().catch(() => "");
  const failure = classifyHttpAnswer(`webhook ${new URL(url).host}`, res.status, text, res.headers.get("retry-after"));
  if (failure) throw failure;
}
