import type { IncomingMessage, ServerResponse } from "node:http";
import { type App, type AuditLog, type SecretBox, SpanKind, secretContexts, withSpan } from "@hoist/shared";
import { type Request, type Response, Router } from "express";
import { type ApiDeps, buildPorts } from "../../deps.js";
import { acceptPush, type PushDelivery, type PushOutcome, storeUnavailable, withStoreDeadline } from "../../domain/accept-push.js";
import { verifyStandardSignature } from "../../domain/signature.js";
import { hashToken } from "../../domain/tokens.js";
import { safeEqual } from "../auth.js";
import { readRawBody } from "../body.js";
import { errorAnswer, HttpError } from "../errors.js";

type Span = Parameters<Parameters<typeof withSpan>[2]>[0];

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
 * A build a push started, in the audit log (after the answer: GitLab does not wait for it). The
 * actor is the pushing user's GitLab username when the payload names one (GitLab vouches for it:
 * the delivery carried the hook's secret), else `gitlab`.
 */
async function auditPush(
  audit: AuditLog,
  deps: ApiDeps,
  queued: { buildId: string; pusher?: string },
  app: string,
  req: IncomingMessage,
): Promise<void> {
  const { buildId } = queued;
  try {
    await audit.append({
      at: new Date().toISOString(),
      actor: queued.pusher ?? "gitlab",
      actorKind: "gitlab",
      via: "webhook",
      action: "build.create",
      app,
      target: buildId,
      address: req.socket.remoteAddress ?? "unknown",
    });
  } catch (err) {
    deps.log.error({ err: err instanceof Error ? err.message : String(err), buildId }, "audit log append failed");
  }
}

/** A preview a merge request opened or closed, in the audit log (as a push's build: the MR event's user, else `gitlab`). */
async function auditPreview(
  audit: AuditLog,
  deps: ApiDeps,
  queued: { job: "open" | "close"; iid: number; jobId: string; author?: string },
  app: string,
  req: IncomingMessage,
): Promise<void> {
  try {
    await audit.append({
      at: new Date().toISOString(),
      actor: queued.author ?? "gitlab",
      actorKind: "gitlab",
      via: "webhook",
      action: `preview.${queued.job}`,
      app,
      target: `!${queued.iid}`,
      address: req.socket.remoteAddress ?? "unknown",
    });
  } catch (err) {
    deps.log.error({ err: err instanceof Error ? err.message : String(err), jobId: queued.jobId }, "audit log append failed");
  }
}

/** The HTTP answer to each outcome of a push, and the outcome as the trace records it. */
function answer(outcome: PushOutcome): { status: number; body: object; outcome: string } {
  switch (outcome.kind) {
    case "queued":
      return { status: 202, body: { status: "queued", buildId: outcome.buildId }, outcome: "queued" };
    case "duplicate":
      return "replay" in outcome
        ? { status: 200, body: { status: "duplicate", reason: outcome.reason }, outcome: "replay" }
        : { status: 200, body: { status: "duplicate", buildId: outcome.buildId }, outcome: "duplicate" };
    case "ignored":
      return { status: 200, body: { status: "ignored", reason: outcome.reason }, outcome: "ignored" };
    case "preview":
      return {
        status: 202,
        body: { status: "queued", preview: { iid: outcome.iid, job: outcome.job } },
        outcome: `preview.${outcome.job}`,
      };
    case "preview-duplicate":
      return { status: 200, body: { status: "duplicate", preview: { iid: outcome.iid } }, outcome: "duplicate" };
    case "busy":
      // Not an error of GitLab's hook: the first delivery is still storing, and GitLab resends later.
      throw new HttpError(503, "busy", outcome.message);
  }
}

/**
 * POST /webhooks/gitlab/:hookId: authenticate (signature or token) and bound the body, then
 * `acceptPush` decides and stores, and its outcome is answered. It answers every error itself,
 * so the HTTP server can call it without express (it is the hot path).
 */
export function webhookHandler(deps: ApiDeps, audit?: AuditLog): WebhookHandler {
  const signing = new SigningSecretCache(deps.secrets);
  const now = deps.now ?? Date.now;
  const ports = buildPorts(deps);

  // The webhook request opens the push's trace: every job stored below carries its context, so
  // build, deploy and notify are spans of this one trace (no HTTP auto-instrumentation is loaded).
  return async (req, res, hookId) => {
    try {
      await withSpan(
        "POST /webhooks/gitlab/:hookId",
        { kind: SpanKind.SERVER, attributes: { "http.request.method": "POST", "http.route": "/webhooks/gitlab/:hookId" } },
        async (span) => {
          const delivery = await authenticate(req, hookId, span);
          const outcome = await acceptPush(ports, delivery);
          const { status, body, outcome: traced } = answer(outcome);
          span.setAttribute("hoist.webhook_outcome", traced);
          if ("buildId" in outcome) span.setAttribute("hoist.build_id", outcome.buildId);
          if (status === 202) span.setAttribute("http.response.status_code", status);
          reply(res, status, body);
          if (outcome.kind === "queued" && audit) await auditPush(audit, deps, outcome, delivery.app.name, req);
          if (outcome.kind === "preview" && audit) await auditPreview(audit, deps, outcome, delivery.app.name, req);
        },
      );
    } catch (err) {
      const { status, body } = errorAnswer(err);
      if (status >= 500) deps.log.error({ err: err instanceof Error ? err.message : String(err), status }, "webhook failed");
      if (!res.headersSent) reply(res, status, body);
    }
  };

  /** The delivery, once it proves it comes from the app's hook; 401/404 otherwise. */
  async function authenticate(req: IncomingMessage, hookId: string, span: Span): Promise<PushDelivery> {
    // A producer connection fails fast, but a dead Redis is known before any command: answer at once.
    if (deps.redis.status !== "ready") throw storeUnavailable();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(hookId)) throw new HttpError(404, "not_found", "no webhook with this id");
    const app = await withStoreDeadline(deps.apps.byHookId(hookId));
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
    const delivery = { hookId, app, event: header(req, "x-gitlab-event"), idempotencyKey: header(req, "idempotency-key"), body };
    if (!signingSecret) return delivery;
    const id = header(req, "webhook-id");
    const check = verifyStandardSignature(
      signingSecret,
      { id, timestamp: header(req, "webhook-timestamp"), signature: header(req, "webhook-signature") },
      body,
      Math.floor(now() / 1000),
    );
    if (!check.ok) throw new HttpError(401, "unauthorized", check.reason);
    return { ...delivery, signedId: id };
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
