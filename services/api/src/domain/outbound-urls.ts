import { checkOutboundUrl, type OutboundPolicy, OutboundRefusedError } from "@hoist/shared";
import { UnprocessableError } from "./errors.js";

/** The refusal of an outbound address, as the API answers it: 422, with the field and the reason. */
export function refusedAnswer(field: string, err: OutboundRefusedError): UnprocessableError {
  return new UnprocessableError("outbound_refused", `${field}: ${err.message}`);
}

/**
 * Refuses a Slack or outgoing webhook URL that points at an internal address (HOIST_OUTBOUND_ALLOW)
 * when it is set, so the mistake shows here rather than as a failed notification later. The
 * notifier checks again when it connects (the name may resolve elsewhere by then).
 */
export async function checkDestinations(
  policy: OutboundPolicy,
  input: { slackWebhookUrl?: string | null; outgoingWebhook?: { url: string } | null },
): Promise<void> {
  const urls: [string, string | undefined][] = [
    ["slackWebhookUrl", input.slackWebhookUrl ?? undefined],
    ["outgoingWebhook.url", input.outgoingWebhook?.url],
  ];
  for (const [field, url] of urls) {
    if (!url) continue;
    try {
      await checkOutboundUrl(policy, url);
    } catch (err) {
      // The Slack URL is a secret: the message names the host's address, never the URL.
      if (err instanceof OutboundRefusedError) throw refusedAnswer(field, err);
      throw err;
    }
  }
}
