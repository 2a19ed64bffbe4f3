import { join, resolve } from "node:path";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import { type JobQueues, queueNames, readDependencyReports } from "@hoist/shared";
import express, { type NextFunction, type Request, type Response, Router } from "express";
import type { ApiDeps } from "../deps.js";
import { safeEqual } from "../http/auth.js";
import { deliveryReport } from "./delivery-data.js";
import { guardWrites, requireSession, sessionOf } from "./guards.js";
import { appPage, buildPage, deliveryPage, loginPage, type PipelineRow, pipelinesPage } from "./pages.js";
import type { DashboardPorts } from "./ports.js";
import { SessionStore, sessionCookie } from "./session.js";
import { timeline } from "./timeline.js";

type Handler = (req: Request, res: Response) => Promise<void>;

const wrap = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => void fn(req, res).catch(next);
const param = (req: Request, name: string) => String(req.params[name] ?? "");

/**
 * The operators' dashboard: server-rendered pages behind a sign-in with the API token. Every
 * page, the queue board and every action need a session; actions are POSTs that carry the
 * session's CSRF token, and the cookie is SameSite=Strict besides.
 */
export function dashboardRouter(deps: ApiDeps, ports: DashboardPorts): Router {
  const router = Router();
  const sessions = new SessionStore(deps.redis, deps.config.HOIST_QUEUE_PREFIX);
  const secure = (req: Request) => req.secure || deps.config.HOIST_PUBLIC_URL.startsWith("https://");
  const forms = express.urlencoded({ extended: false, limit: "8kb" });

  signInRoutes(router, deps, sessions, secure, forms);
  // Everything below needs a session, and state-changing requests the CSRF checks.
  router.use(requireSession(sessions));
  router.use(forms, guardWrites);
  router.post(
    "/logout",
    wrap(async (req, res) => {
      await sessions.destroy(sessionOf(res).id);
      res.setHeader("set-cookie", sessionCookie("", secure(req), 0));
      res.redirect(303, "/login");
    }),
  );
  router.use("/admin/queues", queueBoard(deps.queues));
  pageRoutes(router, deps, ports);
  actionRoutes(router, ports);
  return router;
}

/** GET and POST /login: the form, and a session for the right API token. */
function signInRoutes(
  router: Router,
  deps: ApiDeps,
  sessions: SessionStore,
  secure: (req: Request) => boolean,
  forms: express.RequestHandler,
): void {
  // Where `pnpm start` keeps the token it made: the sign-in page says so.
  const tokenFile = resolve(join(deps.config.HOIST_DATA_DIR, "api-token"));
  router.get("/login", (_req, res) => {
    res.type("html").send(loginPage(tokenFile));
  });
  router.post(
    "/login",
    forms,
    wrap(async (req, res) => {
      const token = typeof req.body?.token === "string" ? req.body.token : "";
      if (!safeEqual(token, deps.config.HOIST_API_TOKEN)) {
        res.status(401).type("html").send(loginPage(tokenFile, "That is not this Hoist's API token."));
        return;
      }
      const session = await sessions.create();
      res.setHeader("set-cookie", sessionCookie(session.id, secure(req)));
      res.redirect(303, "/");
    }),
  );
}

/** bull-board over every queue, mounted at /admin/queues. */
function queueBoard(queues: JobQueues): Router {
  const board = new ExpressAdapter();
  board.setBasePath("/admin/queues");
  createBullBoard({
    queues: queueNames.map((name) => new BullMQAdapter(queues.queue(name))),
    serverAdapter: board,
    // The board is a page of Hoist's: its title and its menu lead back to the pipelines.
    options: { uiConfig: { boardTitle: "Hoist queues", miscLinks: [{ text: "← Back to Hoist", url: "/" }] } },
  });
  return board.getRouter();
}

/** The pipelines of every app: each app's last build, last release and live release. */
async function pipelineRows(deps: ApiDeps): Promise<PipelineRow[]> {
  const apps = await deps.records.apps.list();
  return Promise.all(
    apps.map(async (app) => {
      const [builds, releases] = await Promise.all([
        deps.records.builds.listByApp(app.name, 1),
        deps.records.releases.listByApp(app.name, 20),
      ]);
      return { app, lastBuild: builds[0], lastRelease: releases[0], live: releases.find((r) => r.status === "live") };
    }),
  );
}

/** The pages: pipelines, an app, a build (and its live log), delivery metrics. */
function pageRoutes(router: Router, deps: ApiDeps, ports: DashboardPorts): void {
  router.get(
    "/",
    wrap(async (_req, res) => {
      const rows = await pipelineRows(deps);
      const workers = await readDependencyReports(deps.redis, deps.config.HOIST_QUEUE_PREFIX);
      res.type("html").send(pipelinesPage(sessionOf(res), rows, workers));
    }),
  );
  router.get(
    "/apps/:app",
    wrap(async (req, res) => {
      const app = await deps.records.apps.require(param(req, "app"));
      const [builds, releases] = await Promise.all([
        deps.records.builds.listByApp(app.name, 30),
        deps.records.releases.listByApp(app.name, 30),
      ]);
      res.type("html").send(appPage(sessionOf(res), app, builds, releases));
    }),
  );
  router.get(
    "/builds/:id",
    wrap(async (req, res) => {
      const build = await deps.records.builds.require(param(req, "id"));
      const release = build.releaseId ? await deps.records.releases.get(build.releaseId) : undefined;
      const log = await ports.readBuildLog(build.id);
      res.type("html").send(buildPage(sessionOf(res), build, release, timeline(build, release, log), log));
    }),
  );
  router.get(
    "/builds/:id/log-stream",
    wrap(async (req, res) => {
      const build = await deps.records.builds.require(param(req, "id"));
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      const abort = new AbortController();
      req.on("close", () => abort.abort());
      await ports.followBuildLog(build.id, (entry) => res.write(`data: ${JSON.stringify(entry)}\n\n`), abort.signal);
      if (!abort.signal.aborted) res.end("event: end\ndata: {}\n\n");
    }),
  );
  router.get(
    "/delivery",
    wrap(async (_req, res) => {
      const report = await deliveryReport(deps.records);
      res.type("html").send(deliveryPage(sessionOf(res), report.overall, report.apps));
    }),
  );
}

/** The actions (POST, CSRF-checked): cancel a build, promote a release, roll an app back. */
function actionRoutes(router: Router, ports: DashboardPorts): void {
  router.post(
    "/builds/:id/cancel",
    wrap(async (req, res) => {
      await ports.cancelBuild(param(req, "id"));
      res.redirect(303, `/builds/${encodeURIComponent(param(req, "id"))}`);
    }),
  );
  router.post(
    "/apps/:app/releases/:id/promote",
    wrap(async (req, res) => {
      await ports.promoteRelease(param(req, "app"), param(req, "id"));
      res.redirect(303, `/apps/${encodeURIComponent(param(req, "app"))}`);
    }),
  );
  router.post(
    "/apps/:app/rollback",
    wrap(async (req, res) => {
      await ports.rollback(param(req, "app"));
      res.redirect(303, `/apps/${encodeURIComponent(param(req, "app"))}`);
    }),
  );
}

/** `GET /v1/metrics/delivery`: the same DORA figures as the dashboard page, for scripts. */
export function deliveryMetricsRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get(
    "/metrics/delivery",
    wrap(async (_req, res) => {
      res.json(await deliveryReport(deps.records));
    }),
  );
  return router;
}
