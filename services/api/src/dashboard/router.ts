import { join, resolve } from "node:path";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import { queueNames, readDependencyReports } from "@hoist/shared";
import express, { type NextFunction, type Request, type Response, Router } from "express";
import type { ApiDeps } from "../deps.js";
import { safeEqual } from "../http/auth.js";
import { deliveryReport } from "./delivery-data.js";
import { appPage, buildPage, deliveryPage, loginPage, type PipelineRow, pipelinesPage } from "./pages.js";
import type { DashboardPorts } from "./ports.js";
import { readCookie, SESSION_COOKIE, type Session, SessionStore, sessionCookie } from "./session.js";
import { timeline } from "./timeline.js";

type Handler = (req: Request, res: Response) => Promise<void>;

/** Whether the request's Origin (or, without one, its Referer) names this host. */
function sameOrigin(req: Request): boolean {
  const from = req.get("origin") ?? req.get("referer");
  if (!from || from === "null") return false;
  try {
    return new URL(from).host === req.get("host");
  } catch {
    return false;
  }
}
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

  // Everything below needs a session.
  router.use((req, res, next) => {
    sessions.get(readCookie(req.headers.cookie, SESSION_COOKIE)).then((session) => {
      if (!session) {
        if (req.method === "GET" && req.accepts(["html", "json"]) === "html") res.redirect(303, "/login");
        else res.status(401).json({ error: { code: "unauthorized", message: "sign in to the dashboard first" } });
        return;
      }
      res.locals.session = session;
      next();
    }, next);
  });
  const sessionOf = (res: Response) => res.locals.session as Session;

  // State-changing requests: same-origin only, with the session's CSRF token.
  router.use(forms, (req, res, next) => {
    if (req.method === "GET" || req.method === "HEAD") return next();
    if (req.path.startsWith("/admin/queues")) {
      // bull-board's own XHR actions carry no CSRF token: SameSite=Strict keeps cross-site requests
      // cookie-less, and the request must prove it comes from this origin (Origin, or Referer when a
      // browser leaves Origin out); one with neither is refused too.
      if (!sameOrigin(req)) {
        res.status(403).json({
          error: {
            code: "forbidden",
            message: "cross-origin or unattributed request refused: send it from the dashboard (Origin or Referer of this host)",
          },
        });
        return;
      }
      return next();
    }
    const csrf = typeof req.body?.csrf === "string" ? req.body.csrf : "";
    if (!safeEqual(csrf, sessionOf(res).csrf)) {
      res.status(403).json({ error: { code: "forbidden", message: "missing or wrong CSRF token; reload the page and try again" } });
      return;
    }
    next();
  });

  router.post(
    "/logout",
    wrap(async (req, res) => {
      await sessions.destroy(sessionOf(res).id);
      res.setHeader("set-cookie", sessionCookie("", secure(req), 0));
      res.redirect(303, "/login");
    }),
  );

  const board = new ExpressAdapter();
  board.setBasePath("/admin/queues");
  createBullBoard({
    queues: queueNames.map((name) => new BullMQAdapter(deps.queues.queue(name))),
    serverAdapter: board,
    // The board is a page of Hoist's: its title and its menu lead back to the pipelines.
    options: { uiConfig: { boardTitle: "Hoist queues", miscLinks: [{ text: "← Back to Hoist", url: "/" }] } },
  });
  router.use("/admin/queues", board.getRouter());

  router.get(
    "/",
    wrap(async (_req, res) => {
      const apps = await deps.records.apps.list();
      const rows: PipelineRow[] = await Promise.all(
        apps.map(async (app) => {
          const [builds, releases] = await Promise.all([
            deps.records.builds.listByApp(app.name, 1),
            deps.records.releases.listByApp(app.name, 20),
          ]);
          return { app, lastBuild: builds[0], lastRelease: releases[0], live: releases.find((r) => r.status === "live") };
        }),
      );
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
  return router;
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
