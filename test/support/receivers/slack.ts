import { type PlannedAnswer, type ReceivedRequest, ReceiverBase } from "./http.js";

/**
 * Stands in for Slack's incoming webhooks (https://api.slack.com/messaging/webhooks): POST JSON
 * to /services/T…/B…/secret; `ok` 200 when posted, `invalid_payload` 400 for a body without
 * text or blocks, `no_service` 404 for an unknown webhook. 429 (with Retry-After) and 500 come
 * from `plan()`. `hold()` keeps the next answer back after the message is posted, to let a
 * test kill the sender between Slack posting it and the sender hearing so.
 */
export class SlackReceiver extends ReceiverBase {
  /** Messages Slack posted to the channel (what people saw), in order. */
  readonly posted: { text?: string; blocks?: unknown[]; at: number }[] = [];
  private readonly hooks = new Set<string>();
  private held: Promise<void> | undefined;

  constructor() {
    super((req) => this.answer(req));
  }

  /** A new incoming-webhook URL this receiver accepts. */
  webhookUrl(): string {
    const path = `/services/T${rand()}/B${rand()}/${rand()}${rand()}`;
    this.hooks.add(path);
    return `${this.baseUrl}${path}`;
  }

  /** The next posted message's answer waits until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.held = new Promise((r) => {
      release = r;
    });
    return release;
  }

  private async answer(req: ReceivedRequest): Promise<PlannedAnswer> {
    if (req.method !== "POST" || !this.hooks.has(req.path)) return { status: 404, body: "no_service" };
    let msg: { text?: unknown; blocks?: unknown };
    try {
      msg = JSON.parse(req.rawBody) as typeof msg;
    } catch {
      return { status: 400, body: "invalid_payload" };
    }
    const hasText = typeof msg.text === "string" && msg.text.length > 0;
    const hasBlocks = Array.isArray(msg.blocks) && msg.blocks.length > 0;
    if ((!hasText && !hasBlocks) || (msg.blocks !== undefined && !Array.isArray(msg.blocks))) {
      return { status: 400, body: "invalid_payload" };
    }
    this.posted.push({
      ...(hasText ? { text: msg.text as string } : {}),
      ...(hasBlocks ? { blocks: msg.blocks as unknown[] } : {}),
      at: req.at,
    });
    if (this.held) {
      const held = this.held;
      this.held = undefined;
      await held;
    }
    return { status: 200, body: "ok" };
  }
}

function rand(): string {
  return Math.random().toString(36).slice(2, 10).toUpperCase();
}
