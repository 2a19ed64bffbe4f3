import type { Logger, OutboundFetch, Records, SecretBox } from "@hoist/shared";
import type { SentMarkers } from "../adapters/sent-marker.js";

/** What the notify handlers need, built once in main.ts (or by a test). */
export interface NotifierDeps {
  log: Logger;
  records: Records;
  secrets: SecretBox;
  markers: SentMarkers;
  publicUrl: string;
  /** Every request to Slack, webhooks and GitLab goes through it (HOIST_OUTBOUND_ALLOW). */
  fetch: OutboundFetch;
  /** HOIST_SLACK_WEBHOOK_URL: used for apps without a Slack webhook of their own. */
  defaultSlackWebhookUrl?: string | undefined;
  /** Timeouts per destination request (tests shorten them). */
  timeoutMs?: number;
}
