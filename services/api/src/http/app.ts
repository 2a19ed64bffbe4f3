import { createServer, type Server, type ServerResponse } from "node:http";
import { metricsAccess, metricsRegistry, registerQueueMetrics } from "@hoist/shared";
import express, { type Express } from "express";
import { type AuthServices, authenticateBearer, authorize } from "../auth/guard.js";
import { authServices } from "../auth/services.js";
import { dashboardPorts } from "../dashboard/api-ports.js";
import { dashboardRouter, deliveryMetricsRouter } from "../dashboard/router.js";
import type { ApiDeps } from "../deps.js";
import { errorHandler, HttpError, notFoundHandler } from "./errors.js";
import { healthRouter } from "./health.js";
import { approvalsRouter } from "./routes/approvals.js";
import { appsRouter } from "./routes/apps.js";
import { auditRouter } from "./routes/audit.js";
import { buildLogsRouter } from "./routes/build-logs.js";
import { buildsRouter } from "./routes/builds.js";
import { envRouter } from "./routes/env.js";
import { environmentsRouter } from "./routes/environments.js";
import { gitlabRouter } from "./routes/gitlab.js";
import { grantsRouter } from "./routes/grants.js";
import { previewsRouter } from "./routes/previews.js";
import { releasesRouter } from "./routes/releases.js";
import { scaleRouter } from "./routes/scale.js";
import { slackActionsRouter } from "./routes/slack-actions.js";
import { tokensRouter } from "./routes/tokens.js";
import { type WebhookHandler, webhookHandler, webhookHookId, webhookRouter } from "./routes/webhooks.js";
import { setSecurityHeaders } from "./security-headers.js";

export function createHttpApp(
  deps: ApiDeps,
  webhook: WebhookHandler = webhookHandler(deps),
  auth: AuthServices = authServices(deps),
): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  // API answers are live state: no ETag hashing of every body.
  app.set("etag", false);
  app.use((_req, res, next) => {
    setSecurityHeaders(res);
    next();
  });
  // Webhooks authenticate with their own per-app secret, so they are mounted before the API token
  // check; first of all, as they are the hot path.
  app.use(webhookRouter(webhook));
  app.use(healthRouter(deps));
  // Slack's button clicks authenticate with Slack's signature over the raw body: before any body parser.
  app.use(slackActionsRouter(deps, auth));
  const v1 = express.Router();
  // Every /v1 request: a token, then its route's rule (routeTable) and the role it needs.
  v1.use(authenticateBearer(auth));
  v1.use(authorize(auth, "v1"));
  v1.use(express.json({ limit: "256kb" }));
  v1.use(appsRouter(deps));
  v1.use(buildsRouter(deps));
  v1.use(gitlabRouter(deps));
  v1.use(releasesRouter(deps));
  v1.use(approvalsRouter(deps));
  v1.use(scaleRouter(deps));
  v1.use(buildLogsRouter(deps));
  v1.use(envRouter(deps));
  v1.use(environmentsRouter(deps));
  v1.use(previewsRouter(deps));
  v1.use(deliveryMetricsRouter(deps));
  v1.use(tokensRouter(auth));
  v1.use(grantsRouter(auth));
  v1.use(auditRouter(auth));
  app.use("/v1", v1);
  // Prometheus scrapes with HOIST_METRICS_TOKEN; without one only an API bound to loopback serves metrics.
  registerQueueMetrics(deps.queues);
  app.get("/metrics", async (req, res) => {
    const access = metricsAccess(req.headers.authorization, { token: deps.config.HOIST_METRICS_TOKEN, host: deps.config.HOIST_HOST });
    if (!access.ok) throw new HttpError(access.status, access.status === 401 ? "unauthorized" : "forbidden", access.message);
    res.type(metricsRegistry.contentType).send(await metricsRegistry.metrics());
  });
  // The operators' dashboard owns only its own paths, so unknown API paths still answer 404, not a sign-in page.
  app.use(dashboardRouter(deps, dashboardPorts(deps), auth));
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}

/**
 * The API's HTTP server: webhook deliveries, the hot path, go straight to their handler (express's
 * routing costs about a tenth of a delivery's CPU); everything else goes through express.
 */
export function createHttpServer(deps: ApiDeps): Server {
  // One handler (and so one cache of opened signing secrets) for both ways in.
  const auth = authServices(deps);
  const webhook = webhookHandler(deps, auth.audit);
  const app = createHttpApp(deps, webhook, auth);
  return createServer((req, res) => {
    if (deps.failover && req.url !== "/healthz" && failingOver(deps.failover, res)) return;
    const hookId = webhookHookId(req);
    if (hookId === undefined) {
      app(req, res);
      return;
    }
    setSecurityHeaders(res);
    void webhook(req, res, hookId);
  });
}

const FAILING_OVER = JSON.stringify({
  error: { code: "unavailable", message: "Redis is failing over; nothing was stored, try again shortly" },
});

/**
 * While Sentinel fails the master over nothing can be stored safely: 503 at once, not after a
 * timeout. A request that was under way when a failover began answers 503 instead of success
 * too: what it stored may have gone to the master being replaced and be dropped; the client's
 * retry (GitLab resends, with the same idempotency key) is deduplicated.
 */
function failingOver(watch: NonNullable<ApiDeps["failover"]>, res: ServerResponse): boolean {
  const refuse = () => {
    setSecurityHeaders(res);
    res.writeHead(503, { "content-type": "application/json", "content-length": Buffer.byteLength(FAILING_OVER), "retry-after": "1" });
    res.end(FAILING_OVER);
  };
  if (watch.inProgress()) {
    refuse();
    return true;
  }
  const epoch = watch.epoch();
  // express's send and the webhook path both come through writeHead (end calls it when unsent).
  let replaced = false;
  const writeHead = res.writeHead.bind(res) as (status: number, ...rest: unknown[]) => ServerResponse;
  res.writeHead = ((status: number, ...rest: unknown[]) => {
    if (status >= 300 || watch.epoch() === epoch) return writeHead(status, ...rest);
    replaced = true;
    return writeHead(503, { "content-type": "application/json", "content-length": Buffer.byteLength(FAILING_OVER), "retry-after": "1" });
  }) as typeof res.writeHead;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.end = ((...args: unknown[]) => {
    if (!res.headersSent && res.statusCode < 300 && watch.epoch() !== epoch) res.writeHead(res.statusCode);
    return replaced ? end(FAILING_OVER) : end(...args);
  }) as typeof res.end;
  return false;
}
