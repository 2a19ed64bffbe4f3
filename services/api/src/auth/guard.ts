import type { AuditLog, AuditVia, Logger, NewAuditEntry, Records } from "@hoist/shared";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { safeEqual } from "../http/auth.js";
import type { Access } from "./access.js";
import type { FailureLimit } from "./failure-limit.js";
import { atLeast, type Principal, type Role } from "./roles.js";
import { type RouteRule, ruleFor } from "./route-table.js";
import type { ApiToken, TokenStore } from "./token-store.js";

/** The people-and-access services one API process shares between the API and the dashboard. */
export interface AuthServices {
  bootstrapToken: string;
  tokens: TokenStore;
  access: Access;
  audit: AuditLog;
  limit: FailureLimit;
  records: Records;
  log: Logger;
}

export const principalOf = (res: Response) => res.locals.principal as Principal;
const viaOf = (res: Response) => (res.locals.via as AuditVia | undefined) ?? "api";

/** The client's address as the socket has it (Hoist trusts no proxy header). */
export const addressOf = (req: Request) => req.socket.remoteAddress ?? "unknown";

function fail(res: Response, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  res.set(headers).status(status).json({ error: { code, message } });
}

/** The principal a live API token record stands for (a bearer token's, or a dashboard session's). */
export function tokenPrincipal(t: ApiToken): Principal {
  return {
    kind: "token",
    id: t.id,
    name: t.name,
    role: t.role,
    ...(t.apps ? { apps: t.apps } : {}),
    ...(t.owner ? { owner: t.owner } : {}),
  };
}

/** The principal a bearer token stands for: the bootstrap token (admin) or a live API token. */
export async function principalForToken(auth: AuthServices, token: string): Promise<Principal | undefined> {
  if (safeEqual(token, auth.bootstrapToken)) return { kind: "bootstrap", name: "bootstrap" };
  const t = await auth.tokens.verify(token);
  return t && tokenPrincipal(t);
}

/**
 * `Authorization: Bearer <token>` on every /v1 route: HOIST_API_TOKEN (the bootstrap admin) or an
 * API token. Twenty failures a minute from one address turn every answer to it into 429.
 */
export function authenticateBearer(auth: AuthServices): RequestHandler {
  return (req, res, next) => {
    void (async () => {
      const address = addressOf(req);
      const wait = await auth.limit.retryAfter(address);
      if (wait > 0) {
        fail(res, 429, "too_many_failures", `too many failed sign-ins from ${address}; try again in ${wait} s`, {
          "retry-after": String(wait),
        });
        return;
      }
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
      const principal = token ? await principalForToken(auth, token) : undefined;
      if (!principal) {
        await auth.limit.fail(address);
        fail(res, 401, "unauthorized", "missing, wrong, expired or revoked API token: send Authorization: Bearer <token> (hoist login)");
        return;
      }
      res.locals.principal = principal;
      res.locals.via = /^hoist-cli\//.test(req.get("user-agent") ?? "") ? "cli" : "api";
      next();
    })().catch(next);
  };
}

/** The principal's role for a rule (on the app the request names, globally, or on any app). */
async function roleFor(auth: AuthServices, p: Principal, rule: RouteRule, app: string | undefined): Promise<Role | undefined> {
  const need = rule.role as Role;
  switch (rule.scope) {
    case "app":
    case "app-or-global":
      return app === undefined ? auth.access.globalRole(p) : auth.access.appRole(p, app);
    case "any":
      return (await auth.access.anyRole(p, need, atLeast)) ? need : undefined;
    default:
      return auth.access.globalRole(p);
  }
}

/**
 * Looks the request up in the route table and refuses it (403) unless the principal has the
 * rule's role; a request no rule matches answers 404 without reaching a handler. A write that
 * succeeds is appended to the audit log, with `res.locals.auditChange` (before/after) when the
 * handler set one.
 */
export function authorize(auth: AuthServices, surface: RouteRule["surface"]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    void (async () => {
      const match = ruleFor(surface, req.method, req.path);
      if (!match) {
        fail(res, 404, "not_found", `no route ${req.method} ${req.baseUrl}${req.path}`);
        return;
      }
      const { rule, params } = match;
      if (rule.role === "public" || rule.role === "session") {
        next();
        return;
      }
      const p = principalOf(res);
      const app = rule.appOf ? await rule.appOf({ params, query: req.query as Record<string, unknown> }, auth.records) : undefined;
      // A request naming an app (or build, release) that does not exist: the handler answers 404,
      // but only to someone who may see some app.
      const missing = rule.scope === "app" && app === undefined;
      const have = missing ? ((await auth.access.anyRole(p, "viewer", atLeast)) ? "viewer" : undefined) : await roleFor(auth, p, rule, app);
      if (!atLeast(have, missing ? "viewer" : rule.role)) {
        const where = app ? `on app ${app}` : rule.scope === "any" ? "on any app" : "on all apps";
        fail(
          res,
          403,
          "forbidden",
          `${req.method} ${req.baseUrl}${req.path} needs role ${rule.role} ${where}; you have ${have ?? "no role"} there`,
        );
        return;
      }
      res.locals.role = have;
      // Lists show only what the principal may see (GET /v1/apps).
      res.locals.canView = async (name: string) => atLeast(await auth.access.appRole(p, name), "viewer");
      if (rule.action) auditOnSuccess(auth, req, res, rule.action, app, params);
      next();
    })().catch(next);
  };
}

function actorOf(p: Principal): Pick<NewAuditEntry, "actor" | "actorKind"> {
  return { actor: p.name, actorKind: p.kind };
}

function auditOnSuccess(
  auth: AuthServices,
  req: Request,
  res: Response,
  action: string,
  app: string | undefined,
  params: Record<string, string>,
): void {
  res.on("finish", () => {
    if (res.statusCode >= 400) return;
    // The handler may name the app (a new one, from the body) and what changed.
    const change = res.locals.auditChange as { app?: string; before?: unknown; after?: unknown; target?: string } | undefined;
    const subject = change?.app ?? app;
    const target = change?.target ?? params.id ?? params.user;
    const entry: NewAuditEntry = {
      at: new Date().toISOString(),
      ...actorOf(principalOf(res)),
      via: viaOf(res),
      action,
      ...(subject ? { app: subject } : {}),
      ...(params.env ? { environment: params.env } : {}),
      ...(target ? { target } : {}),
      ...(change?.before !== undefined ? { before: change.before } : {}),
      ...(change?.after !== undefined ? { after: change.after } : {}),
      address: addressOf(req),
      status: res.statusCode,
    };
    auth.audit.append(entry).catch((err: unknown) => auth.log.error({ err, action, app }, "audit log append failed"));
  });
}
