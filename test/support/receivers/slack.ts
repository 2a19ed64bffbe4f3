import { blockKitProblem } from "./block-kit.js";
import { type PlannedAnswer, type ReceivedRequest, ReceiverBase } from "./http.js";

/**
 * Stands in for Slack's incoming webhooks (https://api.slack.com/messaging/webhooks): POST JSON
 * to /services/T…/B…/secret. Answers as Slack does, as plain text: `200 ok` when posted;
 * `400 invalid_payload` for a body that is not a JSON object (or whose text is not a string);
 * `400 invalid_blocks` for blocks breaking Block Kit's rules or limits (block-kit.ts);
 * `400 no_text` without a `text`; `404 no_service` for an unknown webhook. Slack itself posts
 * blocks without a `text`, but then notifications and screen readers get nothing to say, so
 * this receiver refuses that: Hoist must always send the fallback. A 4xx is final for the
 * sender, so each refusal means a lost message. 429 (with Retry-After) and 500 come from
 * `plan()`. `hold()` keeps the next answer back after the message is posted, to let a test
 * kill the sender between Slack posting it and the sender hearing so.
 */
export class SlackReceiver extends ReceiverBase {
  /** Messages Slack posted to the channel (what people saw), in order. */
  readonly posted: { text?: string; blocks?: unknown[]; at: number }[] = [];
  /** Messages refused, with Slack's answer and what was wrong, for a failing test to show. */
  readonly refused: { answer: string; problem: string }[] = [];
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
    let msg: unknown;
    try {
      msg = JSON.parse(req.rawBody);
    } catch {
      return this.refuse("invalid_payload", "the body is not JSON");
    }
    if (typeof msg !== "object" || msg === null || Array.isArray(msg))
      return this.refuse("invalid_payload", "the body is not a JSON object");
    const { text, blocks } = msg as { text?: unknown; blocks?: unknown };
    if (text !== undefined && typeof text !== "string") return this.refuse("invalid_payload", "text is not a string");
    if (blocks !== undefined) {
      const problem = blockKitProblem(blocks);
      if (problem) return this.refuse("invalid_blocks", problem);
    }
    if (!text) return this.refuse("no_text", "no text: the fallback notifications show");
    this.posted.push({ text, ...(Array.isArray(blocks) && blocks.length > 0 ? { blocks } : {}), at: req.at });
    if (this.held) {
      const held = this.held;
      this.held = undefined;
      await held;
    }
    return { status: 200, body: "ok" };
  }

  private refuse(answer: "invalid_payload" | "invalid_blocks" | "no_text", problem: string): PlannedAnswer {
    this.refused.push({ answer, problem });
    return { status: 400, body: answer };
  }
}

function rand(): string {
  return Math.random().toString(36).slice(2, 10).toUpperCase();
}
