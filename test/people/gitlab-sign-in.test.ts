import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GITLAB_ROLE_REFRESH_MS } from "../../services/api/src/auth/access.js";
import { authServices } from "../../services/api/src/auth/services.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { launchBrowser } from "../support/browser.js";
import { memberRoutes, oauthRoutes } from "../support/gitlab/oauth.js";
import { projectRoutes } from "../support/gitlab/projects.js";
import { type GitlabTestServer, startGitlabServer } from "../support/gitlab/server.js";
import { type Role as GitlabRole, GitlabState, type GitlabUser } from "../support/gitlab/state.js";
import { userRoutes } from "../support/gitlab/users.js";
import { freePort } from "../support/net.js";

const CLIENT_ID = "hoist-oauth-app-uid-0123456789";
const CLIENT_SECRET = "gloas-0123456789abcdef0123456789abcdef";

describe("sign in with GitLab in Chromium: roles from GitLab access levels", () => {
  let gl: GitlabTestServer;
  let h: ApiHarness;
  let browser: Browser;
  let maxToken = "";
  const users: Record<string, GitlabUser> = {};
  const project = { id: 42 };

  beforeAll(async () => {
    const state = new GitlabState();
    gl = await startGitlabServer([userRoutes, projectRoutes, memberRoutes], state, [oauthRoutes]);
    const port = await freePort();
    const hoistUrl = `http://127.0.0.1:${port}`;
    state.oauthApps.push({
      uid: CLIENT_ID,
      secret: CLIENT_SECRET,
      redirectUris: [`${hoistUrl}/login/gitlab/callback`],
      scopes: ["openid", "profile", "email"],
    });
    state.addProject(
      { id: 42, path_with_namespace: "acme/shop", default_branch: "main", ssh_url_to_repo: "git@gitlab.example.com:acme/shop.git" },
      gl.url,
    );
    // Hoist's own GitLab connection: a bot with Maintainer on the project, which reads members.
    const bot = state.addUser("hoist-bot", "glpat-hoist-bot-token-0123456789");
    state.addMember(project, bot, "maintainer");
    for (const [name, role] of [
      ["dora", "developer"],
      ["max", "maintainer"],
      ["rita", "reporter"],
    ] as [string, GitlabRole][]) {
      const u = state.addUser(name, `glpat-${name}-personal-token-0123456789`);
      state.passwords.set(u.id, `${name}-password`);
      state.addMember(project, u, role);
      users[name] = u;
    }
    h = await startApi({
      port,
      env: {
        HOIST_PUBLIC_URL: hoistUrl,
        HOIST_GITLAB_OAUTH_URL: gl.url,
        HOIST_GITLAB_OAUTH_CLIENT_ID: CLIENT_ID,
        HOIST_GITLAB_OAUTH_CLIENT_SECRET: CLIENT_SECRET,
      },
    });
    const conn = await h.api("POST", "/gitlab/connections", { url: gl.url, token: "glpat-hoist-bot-token-0123456789" });
    expect(conn.status).toBe(201);
    const app = await h.api("POST", "/apps", {
      name: "shop",
      branch: "main",
      repo: { sshUrl: "git@gitlab.example.com:acme/shop.git" },
      target: { kind: "local", services: { web: { port: 18999 } } },
    });
    expect(app.status).toBe(201);
    // Linked as `POST /v1/apps/shop/gitlab/link` leaves it (its hook and deploy key are another test's subject).
    await h.deps.records.apps.update("shop", { gitlab: { connectionId: conn.body.connection.id, projectId: 42 } });
    h.deps.apps.invalidate({ name: "shop" } as never);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    await gl?.close();
  });

  /** Signs `name` in through the browser: Hoist → GitLab's sign-in → back to Hoist's pipelines. */
  async function signIn(name: string): Promise<{ page: Page; context: BrowserContext }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${h.url}/login`);
    await Promise.all([page.waitForURL(`${gl.url}/oauth/authorize?**`), page.click("#gitlab-sign-in")]);
    const authorize = new URL(page.url());
    // PKCE with S256, OpenID Connect scopes, a state and a nonce.
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorize.searchParams.get("scope")).toBe("openid profile email");
    expect(authorize.searchParams.get("state")).toBeTruthy();
    expect(authorize.searchParams.get("nonce")).toBeTruthy();
    await page.fill("#user_login", name);
    await page.fill("#user_password", `${name}-password`);
    await Promise.all([page.waitForURL(`${h.url}/`), page.click("button[name=commit]")]);
    return { page, context };
  }

  /** A personal token made on the dashboard's token page, as a signed-in person would for the CLI. */
  async function personalToken(page: Page, role: string): Promise<string> {
    await page.goto(`${h.url}/tokens`);
    await page.fill("input[name=name]", `laptop-${role}`);
    await page.selectOption("select[name=role]", role);
    await page.fill("input[name=apps]", "shop");
    await page.click("#create-token");
    return ((await page.locator("#new-token").textContent()) ?? "").trim();
  }

  const api = (token: string, method: string, path: string, body?: unknown) =>
    fetch(`${h.url}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then((r) => r.status);

  it("a Developer signs in, sees the app, can deploy but not change its env", async () => {
    const { page, context } = await signIn("dora");
    await expect(page.locator('tr[data-app="shop"]').count()).resolves.toBe(1);
    const cookies = await context.cookies(h.url);
    const session = cookies.find((c) => c.name === "hoist_session");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    const token = await personalToken(page, "deployer");
    expect(await api(token, "POST", "/apps/shop/builds", { ref: "refs/heads/main", sha: "d".repeat(40) })).toBe(202);
    expect(await api(token, "PATCH", "/apps/shop/env", { set: { A: "1" } })).toBe(403);
    // No personal token above the person: a Developer gets no maintainer token.
    await page.goto(`${h.url}/tokens`);
    await page.fill("input[name=name]", "too-strong");
    await page.selectOption("select[name=role]", "maintainer");
    await page.fill("input[name=apps]", "shop");
    await page.click("#create-token");
    await expect(page.locator(".error").textContent()).resolves.toContain("you have deployer on app shop, not maintainer");
    // The dashboard's deploy actions are open to the Developer (rollback: 409, nothing live, but past the role check).
    const csrf = await page.locator("input[name=csrf]").first().getAttribute("value");
    const rollback = await context.request.post(`${h.url}/apps/shop/rollback`, {
      form: { csrf: csrf ?? "" },
      headers: { origin: h.url },
      maxRedirects: 0,
    });
    expect(rollback.status()).not.toBe(403);
    const audit = await h.deps.redis.xrange(`${h.prefix}:audit`, "-", "+");
    expect(JSON.stringify(audit)).toContain('\\"actor\\":\\"dora\\"');
    await context.close();
  });

  it("a Maintainer can change env; a Reporter sees but cannot act", async () => {
    const max = await signIn("max");
    maxToken = await personalToken(max.page, "maintainer");
    expect(await api(maxToken, "PATCH", "/apps/shop/env", { set: { A: "1" } })).toBe(200);
    await max.context.close();

    const rita = await signIn("rita");
    await expect(rita.page.locator('tr[data-app="shop"]').count()).resolves.toBe(1);
    const ritaToken = await personalToken(rita.page, "viewer");
    expect(await api(ritaToken, "GET", "/apps/shop")).toBe(200);
    expect(await api(ritaToken, "POST", "/apps/shop/builds", { ref: "refs/heads/main", sha: "e".repeat(40) })).toBe(403);
    const csrf = await rita.page.locator("input[name=csrf]").first().getAttribute("value");
    const rollback = await rita.context.request.post(`${h.url}/apps/shop/rollback`, {
      form: { csrf: csrf ?? "" },
      headers: { origin: h.url },
      maxRedirects: 0,
    });
    expect(rollback.status()).toBe(403);
    await rita.context.close();
  });

  it("removing a user's GitLab access takes effect within the refresh bound", async () => {
    const { page, context } = await signIn("dora");
    const token = await personalToken(page, "viewer");
    expect(await api(token, "GET", "/apps/shop")).toBe(200);
    gl.state.removeMember(project, users.dora as GitlabUser);
    // Within the bound Hoist may still use what GitLab said; past it, it asks again.
    h.clock.offsetMs = GITLAB_ROLE_REFRESH_MS + 1000;
    expect(await api(token, "GET", "/apps/shop")).toBe(403);
    const page2 = await context.newPage();
    await page2.goto(`${h.url}/`);
    await expect(page2.locator('tr[data-app="shop"]').count()).resolves.toBe(0);
    h.clock.offsetMs = 0;
    await context.close();
  });

  it("explicit grants override the role from GitLab, both ways; only admins grant", async () => {
    const max = users.max as GitlabUser;
    expect((await h.api("PUT", `/grants/${max.id}`, { apps: { shop: "viewer" } })).status).toBe(200);
    expect(await api(maxToken, "PATCH", "/apps/shop/env", { set: { B: "2" } })).toBe(403);
    expect(await api(maxToken, "GET", "/apps/shop")).toBe(200);
    expect((await h.api("PUT", `/grants/${max.id}`, { apps: { shop: null } })).status).toBe(200);
    expect(await api(maxToken, "PATCH", "/apps/shop/env", { set: { B: "2" } })).toBe(200);
    const rita = users.rita as GitlabUser;
    expect((await h.api("PUT", `/grants/${rita.id}`, { role: "admin" })).status).toBe(200);
    expect(await authServices(h.deps).access.appRole({ kind: "user", id: String(rita.id), name: "rita" }, "shop")).toBe("admin");
    expect((await h.api("GET", "/grants")).body.grants).toEqual([{ user: String(rita.id), role: "admin" }]);
    expect(await api(maxToken, "PUT", `/grants/${max.id}`, { role: "admin" })).toBe(403);
    const bad = await h.api("PUT", "/grants/rita", { role: "admin" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("a GitLab user id");
    const audit = (await h.api("GET", "/audit?actor=bootstrap")).body.entries.filter((e: { action: string }) => e.action === "grant.set");
    expect(audit.map((e: { target: string }) => e.target)).toEqual([String(max.id), String(max.id), String(rita.id)]);
  });

  it("a sign-in not started in this browser, or replayed, is refused", async () => {
    const res = await fetch(`${h.url}/login/gitlab/callback?code=abc&state=forged`, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("not started in this browser");
    const forged = await fetch(`${h.url}/login/gitlab/callback?code=abc&state=forged`, {
      redirect: "manual",
      headers: { cookie: "hoist_oauth=forged" },
    });
    expect(forged.status).toBe(401);
  });
});
