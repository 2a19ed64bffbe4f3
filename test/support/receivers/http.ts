import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** An answer a receiver gives instead of its normal one, for fault injection. */
export interface PlannedAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  rawBody: string;
  at: number;
  /** The status the receiver answered (0 while a held answer is pending). */
  answered: number;
}

/** Loopback HTTP server plumbing shared by the receivers: raw bodies, planned answers, waiters. */
export class ReceiverBase {
  protected server: Server | undefined;
  readonly requests: ReceivedRequest[] = [];
  private readonly planned: { answer: PlannedAnswer; remaining: number }[] = [];
  private readonly waiters: { match: (r: ReceivedRequest) => boolean; resolve: (r: ReceivedRequest) => void }[] = [];
  baseUrl = "";

  constructor(private readonly handle: (req: ReceivedRequest) => PlannedAnswer | Promise<PlannedAnswer>) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.serve(req, res));
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The next `times` requests get `answer` instead of the normal one. */
  plan(answer: PlannedAnswer, times = 1): void {
    this.planned.push({ answer, remaining: times });
  }

  /** Resolves with the first request (already seen or future) that `match` accepts. */
  waitFor(match: (r: ReceivedRequest) => boolean = () => true, timeoutMs = 15_000): Promise<ReceivedRequest> {
    const seen = this.requests.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching request within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const received: ReceivedRequest = {
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
      rawBody: Buffer.concat(chunks).toString("utf8"),
      at: Date.now(),
      answered: 0,
    };
    this.requests.push(received);
    const plan = this.planned.find((p) => p.remaining > 0);
    let answer: PlannedAnswer;
    if (plan) {
      plan.remaining--;
      answer = plan.answer;
    }
    for (const w of [...this.waiters]) {
      if (w.match(received)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(received);
      }
    }
    answer ??= await this.handle(received);
    received.answered = answer.status;
    if (res.destroyed) return;
    res.writeHead(answer.status, { "content-type": "text/plain; charset=utf-8", ...answer.headers });
    res.end(answer.body);
  }
}
