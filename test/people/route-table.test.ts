import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../services/api/src/auth/roles.js";
import { below, roles } from "../../services/api/src/auth/roles.js";
import { type RouteRule, routeTable, ruleFor } from "../../services/api/src/auth/route-table.js";
import { TokenStore } from "../../services/api/src/auth/token-store.js";
import { SessionStore } from "../../services/api/src/dashboard/session.js";
import { createHttpApp } from "../../services/api/src/http/app.js";
import { appStack, routesOf } from "../docs/code-inventory.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { repoRoot } from "../support/processes.js";

/** Every route the express app has mounted, walked through its nested routers (bull-board's as one `ALL /admin/queues/*`). */
function mountedRoutes(app: Express): { method: string; path: string }[] {
  return routesOf(appStack(app), new Set(["/admin/queues"])).map((r) => {
    const [method, path] = r.split(" ") as [string, string];
    return { method, path };
  });
}

function ruleOf(method: string, path: string): RouteRule | undefined {
  if (path.startsWith("/v1/")) return ruleFor("v1", method, path.slice(3))?.rule;
  return ruleFor("public", method, path)?.rule ?? ruleFor("dashboard", method, path)?.rule;
}

describe("every route declares its role; each answers 403 below it and works at it", () => {
  let h: ApiHarness;
  let app: Express;
  const tokens: Partial<Record<Role | "none", string>> = {};
  const sessions: Partial<Record<Role | "none", { cookie: string; csrf: string }>> = {};
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    h = await startApi({ env: { HOIST_PUBLIC_URL: "http://127.0.0.1" } });
    app = createHttpApp(h.deps);
    for (const name of ["shop", "doomed", "other"]) {
      const created = await h.api("POST", "/apps", {
        name,
        branch: "main",
        repo: { sshUrl: `git@gitlab.example.com:acme/${name}.git` },
        target: { kind: "local", services: { web: { port: 18999 } } },
      });
      expect(created.status).toBe(201);
    }
    const build = await h.api("POST", "/apps/shop/builds", { ref: "refs/heads/main", sha: "a".repeat(40) });
    expect(build.status).toBe(202);
    ids.build = build.body.id;
    const release = await h.deps.records.releases.create({
      app: "shop",
      buildId: ids.build as string,
      images: [{ service: "web", tag: "r/shop:web.1" }],
    });
    ids.release = release.id;
    const store = new TokenStore(h.redis, h.prefix);
    const sessionStore = new SessionStore(h.redis, h.prefix);
    // "none": an admin token, but only for an app that does not exist: no role on anything here.
    for (const role of [...roles, "none"] as const) {
      const { record, token } = await store.create(
        role === "none" ? { name: "none", role: "admin", apps: ["ghost"] } : { name: role, role },
      );
      tokens[role] = token;
      const s = await sessionStore.create({ kind: "token", id: record.id });
      sessions[role] = { cookie: `hoist_session=${s.id}`, csrf: s.csrf };
    }
  });
  afterAll(async () => {
    await h?.close();
  });

  it("the route table has a rule for every route the mounted routers serve", () => {
    const mounted = mountedRoutes(app);
    // The walk sees the API, the dashboard, the queue board, webhooks, health and metrics.
    expect(mounted.length).toBeGreaterThan(45);
    expect(mounted).toContainEqual({ method: "PATCH", path: "/v1/apps/:app/env" });
    expect(mounted).toContainEqual({ method: "POST", path: "/apps/:app/rollback" });
    expect(mounted).toContainEqual({ method: "ALL", path: "/admin/queues/*" });
    const missing = mounted.filter((r) => !ruleOf(r.method, r.path)).map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
  });

  /** What `call` answers for a request refused only because no person made it (approvals). */
  const PAST_ROLE_CHECK = 299;

  /** A concrete path for a route: its app, build, release or token. */
  function concrete(rule: RouteRule): string {
    return rule.path
      .replace(":app", rule.method === "DELETE" && rule.path === "/apps/:app" ? "doomed" : "shop")
      .replace(
        ":id",
        rule.path.startsWith("/builds") ? (ids.build as string) : rule.path.includes("releases") ? (ids.release as string) : "tok_unknown",
      )
      .replace(":user", "42")
      .replace(":env", "production")
      .replace("/*", "");
  }

  async function call(rule: RouteRule, who: Role | "none"): Promise<number> {
    const path = concrete(rule);
    const abort = new AbortController();
    let res: Response;
    if (rule.surface === "v1") {
      res = await fetch(`${h.url}/v1${path}`, {
        method: rule.method,
        headers: { authorization: `Bearer ${tokens[who]}`, "content-type": "application/json", accept: "application/json" },
        body: rule.method === "GET" ? undefined : "{}",
        signal: abort.signal,
      });
    } else {
      const s = sessions[who] as { cookie: string; csrf: string };
      const method = rule.method === "ALL" ? "GET" : rule.method;
      res = await fetch(`${h.url}${path}`, {
        method,
        redirect: "manual",
        headers: { cookie: s.cookie, accept: "application/json", origin: h.url, "content-type": "application/x-www-form-urlencoded" },
        body: method === "GET" ? undefined : new URLSearchParams({ csrf: s.csrf }),
        signal: abort.signal,
      });
    }
    // Approvals are given by people: a role's token that is nobody's is past the role check when
    // it is refused for that (403 person_required), not for its role.
    if (res.status === 403 && (res.headers.get("content-type") ?? "").includes("json")) {
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
      if (body.error?.code === "person_required") return PAST_ROLE_CHECK;
    }
    // Streams (a build's live log) answer their headers and go on: the status is all this needs.
    abort.abort();
    return res.status;
  }

  const checked = routeTable
    .filter((r) => r.role !== "public" && r.role !== "session")
    // Deleting comes last: the other routes need the apps.
    .sort((a, b) => Number(a.method === "DELETE") - Number(b.method === "DELETE"));

  it.each(checked.map((r) => [`${r.surface} ${r.method} ${r.path} (${r.role})`, r] as const))("%s", async (_name, rule) => {
    const key = `${rule.method} ${rule.surface === "v1" ? `/v1${rule.path}` : rule.path}`;
    // No rule without its route: the table says what is served, nothing more.
    expect(
      mountedRoutes(app).some((m) => `${m.method} ${m.path}` === key),
      `${key} has a rule but no route`,
    ).toBe(true);
    const need = rule.role as Role;
    for (const lower of [...roles.slice(0, roles.indexOf(need)), "none"] as const) {
      expect(await call(rule, lower), `${lower} must be refused`).toBe(403);
    }
    expect(below(need) === undefined || roles.includes(below(need) as Role)).toBe(true);
    const status = await call(rule, need);
    expect(status, `${need} must get past the role check`).not.toBe(403);
    expect(status).not.toBe(401);
    expect(status).toBeLessThan(500);
  });

  it("a token for one app acts on that app only, and lists only it", async () => {
    const { token } = await new TokenStore(h.redis, h.prefix).create({ name: "shop-ops", role: "maintainer", apps: ["shop"] });
    const as = (method: string, path: string, body?: unknown) =>
      fetch(`${h.url}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await as("PATCH", "/apps/shop/env", { set: { A: "1" } })).status).toBe(200);
    expect((await as("GET", "/apps/other")).status).toBe(403);
    expect((await as("PATCH", "/apps/other/env", { set: { A: "1" } })).status).toBe(403);
    const list = (await (await as("GET", "/apps")).json()) as { apps: { name: string }[] };
    expect(list.apps.map((a) => a.name)).toEqual(["shop"]);
    expect((await as("GET", "/gitlab/connections")).status).toBe(403);
  });

  it("docs/people.md lists every rule with its role", () => {
    const doc = readFileSync(join(repoRoot, "docs", "people.md"), "utf8");
    const rows = [...doc.matchAll(/^\| `([A-Z]+ \S+)` \| ([^|]+) \|/gm)].map((m) => `${m[1]} ${(m[2] ?? "").trim()}`);
    const expected = routeTable.map((r) => {
      const role = r.role === "public" ? "open (own auth)" : r.role === "session" ? "any signed-in" : r.role;
      return `${r.method} ${r.surface === "v1" ? `/v1${r.path}` : r.path} ${role}`;
    });
    expect(rows.sort()).toEqual(expected.sort());
  });

  it("an undeclared path under /v1 answers 404 before any handler", async () => {
    const res = await fetch(`${h.url}/v1/apps/shop/secret-backdoor`, { headers: { authorization: `Bearer ${tokens.admin}` } });
    expect(res.status).toBe(404);
  });
});
