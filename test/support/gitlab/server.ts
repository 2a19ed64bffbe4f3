import { once } from "node:events";
import type { AddressInfo } from "node:net";
import express, { type Express, type NextFunction, type Request, type Response, type Router } from "express";
import { GitlabState, type GitlabUser } from "./state.js";

/**
 * A GitLab REST API (v4) test server: test support only, never in a service's runtime path.
 * It authenticates like GitLab (PRIVATE-TOKEN or Authorization: Bearer), answers errors in
 * GitLab's shapes (`{"message": ...}` / `{"error": ...}`), and each resource lives in its own
 * route module registered below.
 */
export type RouteModule = (router: Router, state: GitlabState, ctx: { baseUrl: () => string }) => void;
/** Routes outside /api/v4 (OAuth, OpenID Connect), with their own authentication. */
export type RootModule = (app: Express, state: GitlabState, ctx: { baseUrl: () => string }) => void;

export interface GitlabTestServer {
  url: string;
  state: GitlabState;
  close(): Promise<void>;
}

export function gitlabUserOf(res: Response): GitlabUser {
  return res.locals.user as GitlabUser;
}

/** GitLab's 404 body for a missing resource, e.g. `{"message":"404 Project Not Found"}`. */
export function notFound(res: Response, what: string): void {
  res.status(404).json({ message: `404 ${what} Not Found` });
}

/** GitLab's 400 for a missing required parameter. */
export function missingParam(res: Response, name: string): void {
  res.status(400).json({ error: `${name} is missing` });
}

export async function startGitlabServer(
  modules: RouteModule[],
  state = new GitlabState(),
  rootModules: RootModule[] = [],
): Promise<GitlabTestServer> {
  const app = express();
  let baseUrl = "";
  app.use(express.json());
  app.use(express.urlencoded({ extended: false }));
  const api = express.Router();
  api.use((req: Request, res: Response, next: NextFunction) => {
    state.requests.push({ method: req.method, path: req.path, body: req.body });
    const fault = state.faults.find((f) => f.remaining > 0 && f.match.test(`${req.method} ${req.path}`));
    if (fault) {
      fault.remaining--;
      if (fault.headers) res.set(fault.headers);
      res.status(fault.status).json(fault.body);
      return;
    }
    const header = req.get("private-token") ?? /^Bearer (.+)$/.exec(req.get("authorization") ?? "")?.[1];
    // A personal access token, or an OAuth access token with the api scope (read_user for /user).
    const oauth = state.oauthTokens.find((t) => t.token === header && t.expiresAt > Date.now());
    const oauthOk = oauth && (oauth.scopes.includes("api") || (oauth.scopes.includes("read_user") && req.path === "/user"));
    const user = state.users.find((u) => u.token === header) ?? (oauthOk ? state.users.find((u) => u.id === oauth.userId) : undefined);
    if (!user) {
      res.status(401).json({ message: "401 Unauthorized" });
      return;
    }
    res.locals.user = user;
    next();
  });
  for (const register of rootModules) register(app, state, { baseUrl: () => baseUrl });
  for (const register of modules) register(api, state, { baseUrl: () => baseUrl });
  app.use("/api/v4", api);
  app.use((_req, res) => {
    res.status(404).json({ error: "404 Not Found" });
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: baseUrl,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
