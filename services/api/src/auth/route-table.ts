import type { Records } from "@hoist/shared";
import type { Role } from "./roles.js";

/**
 * Which app a request is about: the role it needs is the principal's role on that app. Undefined
 * when the thing named does not exist (the handler then answers 404).
 */
type AppOf = (req: RuleRequest, records: Records) => Promise<string | undefined>;

/** What a rule sees of a request: the path's parameters (by the rule's own pattern) and the query. */
interface RuleRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
}

/**
 * `app`: the role on the app the request names; `global`: the role on everything (bootstrap
 * token, a token without `apps`, a user's global grant); `any`: the role on at least one app
 * (lists, which show only what the principal may see); `app-or-global`: on the app named in the
 * query, else global.
 */
type Scope = "app" | "global" | "any" | "app-or-global";

export interface RouteRule {
  /** Upper-case HTTP method, or ALL for a mounted sub-application (the queue board). */
  method: string;
  /** The express path, `/v1` routes without their `/v1`; a trailing `/*` covers everything below. */
  path: string;
  surface: "v1" | "dashboard" | "public";
  /** `public`: no credentials (its own auth, like a webhook's secret); `session`: any signed-in person. */
  role: Role | "public" | "session";
  scope?: Scope;
  appOf?: AppOf;
  /** The audit log's name for a write, e.g. `app.create`. */
  action?: string;
}

const param: AppOf = async (req) => String(req.params.app ?? "");
const buildApp: AppOf = async (req, records) => (await records.builds.get(String(req.params.id ?? "")))?.app;
const releaseApp: AppOf = async (req, records) => (await records.releases.get(String(req.params.id ?? "")))?.app;
const queryApp: AppOf = async (req) => (typeof req.query.app === "string" && req.query.app ? req.query.app : undefined);

const v1 = (method: string, path: string, role: Role, scope: Scope, extra: Partial<RouteRule> = {}): RouteRule => ({
  method,
  path,
  surface: "v1",
  role,
  scope,
  ...(scope === "app" ? { appOf: param } : {}),
  ...extra,
});
const page = (method: string, path: string, role: RouteRule["role"], scope?: Scope, extra: Partial<RouteRule> = {}): RouteRule => ({
  method,
  path,
  surface: "dashboard",
  role,
  ...(scope ? { scope } : {}),
  ...(scope === "app" ? { appOf: param } : {}),
  ...extra,
});
const open = (method: string, path: string): RouteRule => ({ method, path, surface: "public", role: "public" });

/**
 * Every route Hoist serves, with the role it needs. A request no rule matches is refused (404)
 * before any handler runs, and test/people/route-table.test.ts walks the mounted routers: a route
 * added without a rule fails that test.
 */
export const routeTable: readonly RouteRule[] = [
  open("POST", "/webhooks/gitlab/:hookId"),
  open("GET", "/healthz"),
  open("GET", "/readyz"),
  open("GET", "/metrics"),
  // Slack's Approve / Reject buttons: Slack's signature (HOIST_SLACK_SIGNING_SECRET), then the linked person's role.
  open("POST", "/slack/actions"),

  // Who the token is (hoist login checks a token with it): any valid token.
  { method: "GET", path: "/me", surface: "v1", role: "session" },
  v1("POST", "/apps", "maintainer", "global", { action: "app.create" }),
  v1("GET", "/apps", "viewer", "any"),
  v1("GET", "/apps/:app", "viewer", "app"),
  v1("PATCH", "/apps/:app", "maintainer", "app", { action: "app.update" }),
  v1("DELETE", "/apps/:app", "admin", "app", { action: "app.delete" }),
  v1("POST", "/apps/:app/webhook/rotate", "maintainer", "app", { action: "app.webhook.rotate" }),
  v1("PATCH", "/apps/:app/scale", "maintainer", "app", { action: "app.scale" }),
  v1("GET", "/apps/:app/env", "viewer", "app"),
  v1("PATCH", "/apps/:app/env", "maintainer", "app", { action: "app.env.update" }),
  v1("POST", "/apps/:app/builds", "deployer", "app", { action: "build.create" }),
  v1("GET", "/apps/:app/builds", "viewer", "app"),
  v1("GET", "/builds/:id", "viewer", "app", { appOf: buildApp }),
  v1("GET", "/builds/:id/logs", "viewer", "app", { appOf: buildApp }),
  v1("POST", "/builds/:id/cancel", "deployer", "app", { appOf: buildApp, action: "build.cancel" }),
  v1("GET", "/apps/:app/releases", "viewer", "app"),
  v1("GET", "/releases/:id", "viewer", "app", { appOf: releaseApp }),
  v1("POST", "/apps/:app/releases/:id/promote", "deployer", "app", { action: "release.promote" }),
  v1("POST", "/apps/:app/rollback", "deployer", "app", { action: "release.rollback" }),
  v1("POST", "/apps/:app/environments", "maintainer", "app", { action: "environment.create" }),
  v1("GET", "/apps/:app/environments", "viewer", "app"),
  v1("GET", "/apps/:app/environments/:env", "viewer", "app"),
  v1("PATCH", "/apps/:app/environments/:env", "maintainer", "app", { action: "environment.update" }),
  v1("DELETE", "/apps/:app/environments/:env", "maintainer", "app", { action: "environment.delete" }),
  // A deployer promotes into an unprotected environment; into one with requiredApprovals > 0 the
  // handler asks for maintainer (routes/environments.ts), as the rule cannot see the environment.
  v1("POST", "/apps/:app/environments/:env/promote", "deployer", "app", { action: "environment.promote" }),
  // Approvals of protected environments, and an operator's deploy through a freeze.
  v1("POST", "/apps/:app/environments/:env/releases/:id/approve", "maintainer", "app", { action: "release.approve" }),
  v1("POST", "/apps/:app/environments/:env/releases/:id/reject", "maintainer", "app", { action: "release.reject" }),
  v1("POST", "/apps/:app/environments/:env/releases/:id/deploy-now", "maintainer", "app", { action: "release.deploy_now" }),
  // Merge request previews (docs/previews.md): anyone who sees the app lists them; a deployer stops one.
  v1("GET", "/apps/:app/previews", "viewer", "app"),
  v1("DELETE", "/apps/:app/previews/:iid", "deployer", "app", { action: "preview.delete" }),
  v1("POST", "/gitlab/connections", "admin", "global", { action: "gitlab.connection.create" }),
  v1("GET", "/gitlab/connections", "admin", "global"),
  v1("POST", "/apps/:app/gitlab/link", "maintainer", "app", { action: "app.gitlab.link" }),
  v1("DELETE", "/apps/:app/gitlab/link", "maintainer", "app", { action: "app.gitlab.unlink" }),
  v1("GET", "/metrics/delivery", "viewer", "global"),
  // Anyone may hold personal tokens (never above their own role: routes/tokens.ts); admins see and revoke all.
  v1("POST", "/tokens", "viewer", "any", { action: "token.create" }),
  v1("GET", "/tokens", "viewer", "any"),
  v1("DELETE", "/tokens/:id", "viewer", "any", { action: "token.revoke" }),
  v1("GET", "/grants", "admin", "global"),
  v1("PUT", "/grants/:user", "admin", "global", { action: "grant.set" }),
  v1("GET", "/audit", "maintainer", "app-or-global", { appOf: queryApp }),
  v1("GET", "/audit/export", "maintainer", "app-or-global", { appOf: queryApp }),

  page("GET", "/login", "public"),
  page("POST", "/login", "public"),
  page("GET", "/login/gitlab", "public"),
  page("GET", "/login/gitlab/callback", "public"),
  page("POST", "/logout", "session"),
  page("GET", "/", "viewer", "any"),
  page("GET", "/apps/:app", "viewer", "app"),
  page("GET", "/builds/:id", "viewer", "app", { appOf: buildApp }),
  page("GET", "/builds/:id/log-stream", "viewer", "app", { appOf: buildApp }),
  page("GET", "/delivery", "viewer", "global"),
  page("GET", "/tokens", "viewer", "any"),
  page("POST", "/tokens", "viewer", "any", { action: "token.create" }),
  page("GET", "/audit", "maintainer", "app-or-global", { appOf: queryApp }),
  page("GET", "/audit/export", "maintainer", "app-or-global", { appOf: queryApp }),
  page("POST", "/builds/:id/cancel", "deployer", "app", { appOf: buildApp, action: "build.cancel" }),
  page("POST", "/apps/:app/releases/:id/promote", "deployer", "app", { action: "release.promote" }),
  page("POST", "/apps/:app/rollback", "deployer", "app", { action: "release.rollback" }),
  page("POST", "/apps/:app/environments/:env/promote", "deployer", "app", { action: "environment.promote" }),
  page("POST", "/apps/:app/environments/:env/releases/:id/approve", "maintainer", "app", { action: "release.approve" }),
  // bull-board retries, promotes and removes jobs of every app.
  page("ALL", "/admin/queues/*", "admin", "global"),
];

const compiled = routeTable.map((rule) => {
  const prefix = rule.path.endsWith("/*");
  const body = (prefix ? rule.path.slice(0, -2) : rule.path)
    .split("/")
    .map((seg) => (seg.startsWith(":") ? `(?<${seg.slice(1)}>[^/]+)` : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return { rule, re: new RegExp(`^${body}${prefix ? "(?:/.*)?" : "/?"}$`) };
});

/** The rule for a request on one surface (path relative to where that surface is mounted), if any. */
export function ruleFor(
  surface: RouteRule["surface"],
  method: string,
  path: string,
): { rule: RouteRule; params: Record<string, string> } | undefined {
  const m = method === "HEAD" ? "GET" : method;
  for (const { rule, re } of compiled) {
    if (rule.surface !== surface || (rule.method !== m && rule.method !== "ALL")) continue;
    const match = re.exec(path);
    if (!match) continue;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(match.groups ?? {})) {
      try {
        params[k] = decodeURIComponent(v);
      } catch {
        params[k] = v;
      }
    }
    return { rule, params };
  }
  return undefined;
}
