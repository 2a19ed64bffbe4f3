import { join, resolve } from "node:path";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import {
  type App,
  auditQuerySchema,
  isPreviewEnvironment,
  type JobQueues,
  queueNames,
  readDependencyReports,
  recordKeys,
} from "@hoist/shared";
import express, { type NextFunction, type Request, type Response, Router } from "express";
import { GitlabSignIn } from "../auth/gitlab-oidc.js";
import { type AuthServices, addressOf, authorize, principalForToken, principalOf } from "../auth/guard.js";
import { atLeast, type Role } from "../auth/roles.js";
import { ruleFor } from "../auth/route-table.js";
import type { ApiDeps } from "../deps.js";
import { previewView } from "../domain/previews.js";
import { HttpError } from "../http/errors.js";
import { exportJsonLines } from "../http/routes/audit.js";
import { createTokenSchema, issueToken, ownerOf } from "../http/routes/tokens.js";
import { deliveryReport } from "./delivery-data.js";
import { guardWrites, requireSession, sessionOf } from "./guards.js";
import {
  appPage,
  auditPage,
  buildPage,
  deliveryPage,
  type EnvironmentColumn,
  loginPage,
  type PipelineRow,
  pipelinesPage,
  tokensPage,
} from "./pages.js";
import type { DashboardPorts } from "./ports.js";
import { readCookie, SessionStore, type SignedIn, sessionCookie } from "./session.js";
import { timeline } from "./timeline.js";

type Handler = (req: Request, res: Response) => Promise<void>;

const wrap = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => void fn(req, res).catch(next);
const param = (req: Request, name: string) => String(req.params[name] ?? "");

/**
 * The operators' dashboard: server-rendered pages behind a sign-in with GitLab or an API token.
 * Every page, the queue board and every action need a session and the role the route table
 * gives them; actions are POSTs that carry the session's CSRF token, and the cookie is
 * SameSite=Strict besides. Paths without a dashboard rule leave this router (404 further on).
 */
export function dashboardRouter(deps: ApiDeps, ports: DashboardPorts, auth: AuthServices): Router {
  const router = Router();
  const sessions = new SessionStore(deps.redis, deps.config.HOIST_QUEUE_PREFIX);
  const secure = (req: Request) => req.secure || deps.config.HOIST_PUBLIC_URL.startsWith("https://");
  const forms = express.urlencoded({ extended: false, limit: "8kb" });

  router.use((req, _res, next) => next(ruleFor("dashboard", req.method, req.path) ? undefined : "router"));
  signInRoutes(router, deps, auth, sessions, secure, forms);
  // Everything below needs a session, state-changing requests the CSRF checks, and each its role.
  router.use(requireSession(sessions, auth));
  router.use(forms, guardWrites);
  router.use(authorize(auth, "dashboard"));
  router.post(
    "/logout",
    wrap(async (req, res) => {
      await sessions.destroy(sessionOf(res).id);
      res.setHeader("set-cookie", sessionCookie("", secure(req), 0));
      res.redirect(303, "/login");
    }),
  );
  router.use("/admin/queues", queueBoard(deps.queues));
  pageRoutes(router, deps, ports, auth);
  auditRoutes(router, auth);
  tokenRoutes(router, auth);
  actionRoutes(router, ports);
  return router;
}

const OAUTH_COOKIE = "hoist_oauth";

/** A page that sends the browser on to `path` by itself: a same-site step, so the Strict session cookie goes along. */
const forward = (path: string) =>
  `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${path}"><title>Signed in</title><a href="${path}">Continue</a>`;

/** GET and POST /login (the bootstrap or an API token), and sign-in with GitLab when configured. */
function signInRoutes(
  router: Router,
  deps: ApiDeps,
  auth: AuthServices,
  sessions: SessionStore,
  secure: (req: Request) => boolean,
  forms: express.RequestHandler,
): void {
  // Where `pnpm start` keeps the token it made: the sign-in page says so.
  const tokenFile = resolve(join(deps.config.HOIST_DATA_DIR, "api-token"));
  const {
    HOIST_GITLAB_OAUTH_URL: url,
    HOIST_GITLAB_OAUTH_CLIENT_ID: clientId,
    HOIST_GITLAB_OAUTH_CLIENT_SECRET: clientSecret,
  } = deps.config;
  const gitlab =
    url && clientId && clientSecret
      ? new GitlabSignIn(
          { url, clientId, clientSecret, redirectUri: `${deps.config.HOIST_PUBLIC_URL}/login/gitlab/callback` },
          deps.redis,
          deps.config.HOIST_QUEUE_PREFIX,
        )
      : undefined;
  const signIn = async (req: Request, res: Response, who: SignedIn, page?: (path: string) => string) => {
    const session = await sessions.create(who);
    res.append("set-cookie", sessionCookie(session.id, secure(req)));
    if (page) res.type("html").send(page("/"));
    else res.redirect(303, "/");
  };
  /** Slowed like bad API tokens: 20 failures a minute from one address, then 429. */
  const refused = async (req: Request, res: Response, status: number, message: string) => {
    await auth.limit.fail(addressOf(req));
    res
      .status(status)
      .type("html")
      .send(loginPage(tokenFile, message, gitlab !== undefined));
  };
  const slowed = async (req: Request, res: Response) => {
    const wait = await auth.limit.retryAfter(addressOf(req));
    if (wait > 0)
      res
        .status(429)
        .set("retry-after", String(wait))
        .type("html")
        .send(loginPage(tokenFile, `Too many failed sign-ins; try again in ${wait} s.`, gitlab !== undefined));
    return wait > 0;
  };

  router.get("/login", (_req, res) => {
    res.type("html").send(loginPage(tokenFile, undefined, gitlab !== undefined));
  });
  router.post(
    "/login",
    forms,
    wrap(async (req, res) => {
      if (await slowed(req, res)) return;
      const token = typeof req.body?.token === "string" ? req.body.token : "";
      const principal = token ? await principalForToken(auth, token) : undefined;
      if (!principal) return refused(req, res, 401, "That is not this Hoist's API token, nor a live API token.");
      await signIn(req, res, principal.kind === "token" ? { kind: "token", id: principal.id } : { kind: "bootstrap" });
    }),
  );
  router.get(
    "/login/gitlab",
    wrap(async (req, res) => {
      if (!gitlab) {
        res.status(404).type("html").send(loginPage(tokenFile, "Sign-in with GitLab is not configured (HOIST_GITLAB_OAUTH_URL)."));
        return;
      }
      const { url: to, state } = await gitlab.start();
      // Binds the sign-in to this browser. Lax: it must come back on GitLab's redirect, a cross-site navigation.
      res.append(
        "set-cookie",
        `${OAUTH_COOKIE}=${state}; Path=/login/gitlab; HttpOnly; SameSite=Lax; Max-Age=600${secure(req) ? "; Secure" : ""}`,
      );
      res.redirect(303, to);
    }),
  );
  router.get(
    "/login/gitlab/callback",
    wrap(async (req, res) => {
      if (!gitlab) {
        res.status(404).type("html").send(loginPage(tokenFile, "Sign-in with GitLab is not configured (HOIST_GITLAB_OAUTH_URL)."));
        return;
      }
      if (await slowed(req, res)) return;
      res.append("set-cookie", `${OAUTH_COOKIE}=; Path=/login/gitlab; HttpOnly; SameSite=Lax; Max-Age=0`);
      const state = typeof req.query.state === "string" ? req.query.state : "";
      if (typeof req.query.error === "string")
        return refused(req, res, 401, `GitLab refused the sign-in (${req.query.error.slice(0, 100)}).`);
      if (!state || readCookie(req.headers.cookie, OAUTH_COOKIE) !== state)
        return refused(req, res, 400, "This sign-in was not started in this browser; start again.");
      let person: Awaited<ReturnType<GitlabSignIn["finish"]>>;
      try {
        person = await gitlab.finish(new URL(req.originalUrl, deps.config.HOIST_PUBLIC_URL), state);
      } catch (err) {
        deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, "GitLab sign-in failed");
        return refused(req, res, 401, "Signing in with GitLab failed; start again.");
      }
      await deps.redis.hset(recordKeys(deps.config.HOIST_QUEUE_PREFIX).person(person.id), {
        id: person.id,
        username: person.username,
        ...(person.name ? { name: person.name } : {}),
        ...(person.email ? { email: person.email } : {}),
        signedInAt: new Date().toISOString(),
      });
      // Roles from GitLab are asked again at every sign-in.
      await auth.access.refreshGitlabRoles(person.id);
      await auth.audit.append({
        at: new Date().toISOString(),
        actor: person.username,
        actorKind: "user",
        via: "dashboard",
        action: "session.sign_in",
        address: addressOf(req),
      });
      await signIn(req, res, { kind: "user", id: person.id, name: person.username }, forward);
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

/** The pipelines of every app the principal may see: each app's last build, last release and live release. */
async function pipelineRows(deps: ApiDeps, auth: AuthServices, res: Response): Promise<PipelineRow[]> {
  const p = principalOf(res);
  const all = await deps.records.apps.list();
  const seen = await Promise.all(all.map(async (app) => atLeast(await auth.access.appRole(p, app.name), "viewer")));
  const apps = all.filter((_, i) => seen[i]);
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
function pageRoutes(router: Router, deps: ApiDeps, ports: DashboardPorts, auth: AuthServices): void {
  router.get(
    "/",
    wrap(async (_req, res) => {
      const rows = await pipelineRows(deps, auth, res);
      const workers = await readDependencyReports(deps.redis, deps.config.HOIST_QUEUE_PREFIX);
      res.type("html").send(pipelinesPage(sessionOf(res), rows, workers));
    }),
  );
  router.get(
    "/apps/:app",
    wrap(async (req, res) => {
      const app = await deps.records.apps.require(param(req, "app"));
      const [builds, releases, environments, previews] = await Promise.all([
        deps.records.builds.listByApp(app.name, 30),
        deps.records.releases.listByApp(app.name, 30),
        environmentColumns(deps, app),
        deps.records.previews.list(app.name, 50),
      ]);
      const rows = previews.map((p) => previewView(p, app, deps.config.HOIST_APPS_DOMAIN));
      res.type("html").send(appPage(sessionOf(res), app, builds, releases, environments, rows));
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

/** The signed-in person's own API tokens (for the CLI): list, and make one no stronger than they are. */
function tokenRoutes(router: Router, auth: AuthServices): void {
  const mine = async (res: Response) => {
    const owner = ownerOf(principalOf(res));
    return (await auth.tokens.list()).filter((t) => t.owner === owner);
  };
  router.get(
    "/tokens",
    wrap(async (_req, res) => {
      res.type("html").send(tokensPage(sessionOf(res), await mine(res)));
    }),
  );
  router.post(
    "/tokens",
    wrap(async (req, res) => {
      const body = req.body as Record<string, unknown>;
      const apps =
        typeof body.apps === "string"
          ? body.apps
              .split(",")
              .map((a) => a.trim())
              .filter(Boolean)
          : [];
      const parsed = createTokenSchema.safeParse({ name: body.name, role: body.role, ...(apps.length ? { apps } : {}) });
      if (!parsed.success) {
        res
          .status(400)
          .type("html")
          .send(
            tokensPage(
              sessionOf(res),
              await mine(res),
              undefined,
              parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
            ),
          );
        return;
      }
      try {
        const { record, token } = await issueToken(auth, principalOf(res), parsed.data);
        res.locals.auditChange = { target: record.id, after: { name: record.name, role: record.role, apps: record.apps } };
        res.type("html").send(tokensPage(sessionOf(res), await mine(res), { name: record.name, token }));
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        res
          .status(err.status)
          .type("html")
          .send(tokensPage(sessionOf(res), await mine(res), undefined, err.message));
      }
    }),
  );
}

/** The audit log's page and its JSON-lines export. */
function auditRoutes(router: Router, auth: AuthServices): void {
  router.get(
    "/audit",
    wrap(async (req, res) => {
      const q = auditQuerySchema.parse(Object.fromEntries(Object.entries(req.query).filter(([, v]) => v !== "")));
      const page = await auth.audit.read(q);
      res.type("html").send(auditPage(sessionOf(res), page.entries, { app: q.app, actor: q.actor, since: q.since }, page.next));
    }),
  );
  router.get(
    "/audit/export",
    wrap(async (req, res) => {
      await exportJsonLines(auth, Object.fromEntries(Object.entries(req.query).filter(([, v]) => v !== "")), res);
    }),
  );
}

/** Statuses after which a release waits for nothing any more (the others wait: pending, deploying, and any gate). */
const FINISHED = new Set<string>(["live", "retired", "failed", "rolled_back", "rejected"]);

/** Each environment with what is live in it and its releases still waiting, newer than the live one. */
async function environmentColumns(deps: ApiDeps, app: App): Promise<EnvironmentColumn[]> {
  // Previews (mr-<iid>) have their own panel: the promotion chain is the app's own environments.
  const envs = (await deps.records.environments.list(app)).filter((e) => !isPreviewEnvironment(e.name));
  return Promise.all(
    envs.map(async (env) => {
      const [recent, live] = await Promise.all([
        deps.records.releases.listByEnvironment(app.name, env.name, 10),
        deps.records.releases.live(app.name, env.name),
      ]);
      const waiting = recent.filter((r) => !FINISHED.has(r.status) && (!live || r.number > live.number));
      return { env, waiting, ...(live ? { live } : {}) };
    }),
  );
}

/** The actions (POST, CSRF-checked): cancel a build, promote or approve a release, roll an app back, promote into an environment. */
function actionRoutes(router: Router, ports: DashboardPorts): void {
  router.post(
    "/apps/:app/environments/:env/promote",
    wrap(async (req, res) => {
      const releaseId = typeof req.body?.releaseId === "string" ? req.body.releaseId : "";
      await ports.promoteToEnvironment(param(req, "app"), param(req, "env"), releaseId, res.locals.role as Role | undefined);
      res.redirect(303, `/apps/${encodeURIComponent(param(req, "app"))}`);
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
    "/apps/:app/environments/:env/releases/:id/approve",
    wrap(async (req, res) => {
      await ports.approveRelease(param(req, "app"), param(req, "env"), param(req, "id"), principalOf(res));
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
