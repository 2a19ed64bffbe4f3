import type { IncomingMessage, ServerResponse } from "node:http";
import { type App, type SecretBox, SpanKind, secretContexts, withSpan } from "@hoist/shared";
import { type Request, type Response, Router } from "express";
import type { ApiDeps } from "../../deps.js";
import { finishBuild } from "../../domain/builds.js";
import { type Accepted, acceptDelivery, DeliveryBusyError, deliveryKey, deliveryRedisKey } from "../../domain/deliveries.js";
import { decidePush } from "../../domain/push-event.js";
import { SIGNATURE_TOLERANCE_S, verifyStandardSignature } from "../../domain/signature.js";
import { hashToken } from "../../domain/tokens.js";
import { safeEqual } from "../auth.js";
import { readRawBody } from "../body.js";
import { errorAnswer, HttpError, isRedisUnavailable } from "../errors.js";

type Span = Parameters<Parameters<typeof withSpan>[2]>[0];

/** Storing a push never waits longer than this on Redis: GitLab gives up after 10 s. */
const STORE_DEADLINE_MS = 5_000;

function unavailable(): HttpError {
  return new HttpError(503, "unavailable", "Redis is unreachable; nothing was stored, resend the delivery shortly");
}

async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(unavailable()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opened signing secrets, keyed by their ciphertext: opening with KMS on every delivery would be slow. */
class SigningSecretCache {
  private readonly cache = new Map<string, string>();
  constructor(private readonly secrets: SecretBox) {}
  async get(app: App): Promise<string | undefined> {
    if (!app.signingSecret) return undefined;
    const id = app.signingSecret.ciphertext;
    let secret = this.cache.get(id);
    if (secret === undefined) {
      secret = (await this.secrets.open(app.signingSecret, secretContexts.signingSecret(app.name))).toString("utf8");
      if (this.cache.size >= 1000) this.cache.clear();
      this.cache.set(id, secret);
    }
    return secret;
  }
}

/** Webhook answers are tiny and never cached: written directly, without express's ETag and send machinery. */
function reply(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) }).end(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const WEBHOOK_PATH = /^\/webhooks\/gitlab\/([^/?#]*)\/?(?:\?.*)?$/;

/** The hook id when `req` is a webhook delivery (POST /webhooks/gitlab/:hookId), else undefined. */
export function webhookHookId(req: IncomingMessage): string | undefined {
  if (req.method !== "POST" || !req.url) return undefined;
  const m = WEBHOOK_PATH.exec(req.url);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1] ?? "");
  } catch {
    return m[1];
  }
}

export type WebhookHandler = (req: IncomingMessage, res: ServerResponse, hookId: string) => Promise<void>;

/**
 * POST /webhooks/gitlab/:hookId: authenticate (signature or token), bound the body, decide,
 * then store the build (once per Idempotency-Key) and its job before answering 202. It answers
 * every error itself, so the HTTP server can call it without express (it is the hot path).
 */
export function webhookHandler(deps: ApiDeps): WebhookHandler {
  const signing = new SigningSecretCache(deps.secrets);
  const prefix = deps.config.HOIST_QUEUE_PREFIX;
  const now = deps.now ?? Date.now;
  const buildDeps = { redis: deps.redis, records: deps.records, queues: deps.queues, prefix, now };

  // The webhook request opens the push's trace: every job stored below carries its context, so
  // build, deploy and notify are spans of this one trace (no HTTP auto-instrumentation is loaded).
  return async (req, res, hookId) => {
    try {
      await withSpan(
        "POST /webhooks/gitlab/:hookId",
        { kind: SpanKind.SERVER, attributes: { "http.request.method": "POST", "http.route": "/webhooks/gitlab/:hookId" } },
        (span) => handle(req, res, hookId, span),
      );
    } catch (err) {
      const { status, body } = errorAnswer(err);
      if (status >= 500) deps.log.error({ err: err instanceof Error ? err.message : String(err), status }, "webhook failed");
      if (!res.headersSent) reply(res, status, body);
    }
  };

  async function handle(req: IncomingMessage, res: ServerResponse, hookId: string, span: Span): Promise<void> {
    // A producer connection fails fast, but a dead Redis is known before any command: answer at once.
    if (deps.redis.status !== "ready") throw unavailable();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(hookId)) throw new HttpError(404, "not_found", "no webhook with this id");
    const app = await withDeadline(deps.apps.byHookId(hookId), STORE_DEADLINE_MS);
    if (!app) throw new HttpError(404, "not_found", "no webhook with this id");
    span.setAttribute("hoist.app", app.name);

    const signingSecret = await signing.get(app);
    if (!signingSecret) {
      const token = header(req, "x-gitlab-token");
      if (!token || !app.webhookTokenHash || !safeEqual(hashToken(token), app.webhookTokenHash)) {
        throw new HttpError(401, "unauthorized", "X-Gitlab-Token does not match this webhook's secret token");
      }
    }
    const body = await readRawBody(req, deps.config.HOIST_WEBHOOK_MAX_BYTES);
    if (signingSecret) {
      const check = verifyStandardSignature(
        signingSecret,
        { id: header(req, "webhook-id"), timestamp: header(req, "webhook-timestamp"), signature: header(req, "webhook-signature") },
        body,
        Math.floor(now() / 1000),
      );
      if (!check.ok) throw new HttpError(401, "unauthorized", check.reason);
      // A captured signed delivery stays valid for the whole tolerance window: its webhook-id is
      // remembered that long (either side of now), and a second sight of it is a duplicate. The
      // mark is taken back when the delivery fails, so GitLab's resend of a failed one still builds.
      const seen = `${prefix}:webhook-seen:${hookId}:${header(req, "webhook-id")}`;
      const fresh = await withDeadline(deps.redis.set(seen, "1", "PX", 2 * SIGNATURE_TOLERANCE_S * 1000, "NX"), STORE_DEADLINE_MS);
      if (fresh !== "OK") {
        span.setAttribute("hoist.webhook_outcome", "replay");
        reply(res, 200, { status: "duplicate", reason: "this webhook-id was already delivered" });
        return;
      }
      try {
        await accept(req, res, body, app, hookId, span);
      } catch (err) {
        await deps.redis.del(seen).catch(() => undefined);
        throw err;
      }
      return;
    }
    await accept(req, res, body, app, hookId, span);
  }

  async function accept(req: IncomingMessage, res: ServerResponse, body: Buffer, app: App, hookId: string, span: Span): Promise<void> {
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      throw new HttpError(400, "invalid_json", "request body is not valid JSON");
    }
    const decision = decidePush(header(req, "x-gitlab-event"), payload, app);
    if (decision.action === "reject") throw new HttpError(400, "invalid_payload", decision.message);
    if (decision.action === "ignore") {
      span.setAttribute("hoist.webhook_outcome", "ignored");
      reply(res, 200, { status: "ignored", reason: decision.reason });
      return;
    }

    const key = deliveryRedisKey(prefix, hookId, deliveryKey(header(req, "idempotency-key"), body));
    let accepted: Accepted;
    try {
      accepted = await withDeadline(
        acceptDelivery(buildDeps, key, {
          app: app.name,
          ref: decision.ref,
          sha: decision.sha,
          ...(decision.before ? { before: decision.before } : {}),
          trigger: decision.trigger,
          commit: decision.commit,
        }),
        STORE_DEADLINE_MS,
      );
    } catch (err) {
      if (err instanceof DeliveryBusyError) throw new HttpError(503, "busy", err.message);
      if (err instanceof HttpError || isRedisUnavailable(err)) throw unavailable();
      throw err;
    }
    if (accepted.kind === "duplicate") {
      span.setAttributes({ "hoist.webhook_outcome": "duplicate", "hoist.build_id": accepted.buildId });
      reply(res, 200, { status: "duplicate", buildId: accepted.buildId });
      return;
    }
    const { build, open } = accepted;
    // The build and its job are stored and will run; a resend of this delivery is a duplicate now.
    try {
      await withDeadline(finishBuild(buildDeps, build, app, open), STORE_DEADLINE_MS);
    } catch (err) {
      if (err instanceof HttpError || isRedisUnavailable(err)) throw unavailable();
      throw err;
    }
    span.setAttributes({ "hoist.webhook_outcome": "queued", "hoist.build_id": build.id, "http.response.status_code": 202 });
    reply(res, 202, { status: "queued", buildId: build.id });
  }
}

/**
 * The same handler as an express route, for webhook paths the HTTP server's exact match leaves
 * to express (express matches paths case-insensitively).
 */
export function webhookRouter(handler: WebhookHandler): Router {
  const router = Router();
  router.post("/webhooks/gitlab/:hookId", (req: Request<{ hookId: string }>, res: Response) => handler(req, res, req.params.hookId));
  return router;
}
