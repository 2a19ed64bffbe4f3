import { type OutboundFetch, outboundRefusal } from "@hoist/shared";
import { IncomingWebhook, IncomingWebhookHTTPError, IncomingWebhookRequestError } from "@slack/webhook";
import { classifyHttpAnswer, networkReason } from "../domain/delivery.js";
import { PermanentDeliveryError, TransientDeliveryError } from "../domain/errors.js";
import type { SlackMessage } from "../domain/slack-message.js";

const SLACK_TIMEOUT_MS = 10_000;

/**
 * Posts one message to a Slack incoming webhook. IncomingWebhook's own retries stay off: BullMQ
 * owns retrying, with backoff, Retry-After and a visible failed list. The fetch wrapper keeps the
 * answer's Retry-After, which IncomingWebhookHTTPError does not carry. `fetch` is the notifier's
 * outbound fetch: an internal address is refused for good, a redirect is not followed. Errors
 * never contain the URL: it is a secret.
 */
export async function postSlack(url: string, message: SlackMessage, fetch: OutboundFetch, timeoutMs = SLACK_TIMEOUT_MS): Promise<void> {
  let retryAfter: string | null = null;
  const webhook = new IncomingWebhook(url, {
    timeout: timeoutMs,
    retryConfig: { retries: 0 },
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      retryAfter = res.headers.get("retry-after");
      return res;
    },
  });
  try {
    await webhook.send({ text: message.text, blocks: message.blocks });
  } catch (err) {
    const refusal = outboundRefusal(err);
    if (refusal) throw new PermanentDeliveryError(`Slack webhook ${refusal.message}`);
    if (err instanceof IncomingWebhookHTTPError) {
      throw classifyHttpAnswer("Slack", err.statusCode, err.body, retryAfter) ?? err;
    }
    if (err instanceof IncomingWebhookRequestError) {
      throw new TransientDeliveryError(`Slack did not answer (${networkReason(err.original)})`);
    }
    throw new TransientDeliveryError(`Slack did not answer (${networkReason(err)})`);
  }
}
