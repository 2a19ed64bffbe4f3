import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { buildLogKey, LogWriter } from "@hoist/shared";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, type ApiHarness, startApi } from "../support/api/harness.js";
import { launchBrowser } from "../support/browser.js";

const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-results", "screenshots");
const sha = (c: string) => c.repeat(40);

describe("operators' dashboard in Chromium", () => {
  let h: ApiHarness;
  let browser: Browser;
  let page: Page;
  let buildId: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    h = await startApi({ env: { HOIST_PUBLIC_URL: "http://127.0.0.1" } });
    const created = await h.api("POST", "/apps", {
      name: "shop",
      branch: "main",
      repo: { sshUrl: "git@gitlab.example.com:acme/shop.git" },
      target: { kind: "local", services: { web: { port: 18999 } } },
    });
    expect(created.status).toBe(201);
    // Two releases that went live, so a rollback has somewhere to go.
    const { records } = h.deps;
    for (const [n, status] of [
      [1, "retired"],
      [2, "live"],
    ] as const) {
      const b = await records.builds.create({
        app: "shop",
        ref: "refs/heads/main",
        sha: sha(String(n)),
        trigger: "push",
        commit: { title: `release ${n}` },
      });
      await records.builds.transition(b.id, ["queued"], { status: "running", startedAt: new Date().toISOString() });
      await records.builds.transition(b.id, ["running"], { status: "succeeded", finishedAt: new Date().toISOString() });
      const r = await records.releases.create({ app: "shop", buildId: b.id, images: [{ service: "web", tag: `r/shop:web.${n}` }] });
      // As the deployer moves it (the transition table allows nothing shorter): deploying, live, then retired.
      await records.releases.transition(r.id, ["pending"], { status: "deploying" });
      await records.releases.transition(r.id, ["deploying"], {
        status: "live",
        liveAt: new Date(Date.now() - (3 - n) * 60_000).toISOString(),
      });
      if (status === "retired") await records.releases.transition(r.id, ["live"], { status: "retired" });
    }
    const build = await h.api("POST", "/apps/shop/builds", { ref: "refs/heads/main", sha: sha("c") });
    expect(build.status).toBe(202);
    buildId = build.body.id;
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it("refuses every page and action without a session", async () => {
    const home = await fetch(`${h.url}/`, { redirect: "manual", headers: { accept: "text/html" } });
    expect(home.status).toBe(303);
    expect(home.headers.get("location")).toBe("/login");
    const action = await fetch(`${h.url}/apps/shop/rollback`, { method: "POST", redirect: "manual" });
    expect(action.status).toBe(401);
    const board = await fetch(`${h.url}/admin/queues`, { redirect: "manual", headers: { accept: "text/html" } });
    expect(board.status).toBe(303);
    const wrong = await fetch(`${h.url}/login`, { method: "POST", body: new URLSearchParams({ token: "nope" }), redirect: "manual" });
    expect(wrong.status).toBe(401);
    await page.goto(`${h.url}/apps/shop`);
    expect(new URL(page.url()).pathname).toBe("/login");
  });

  it("signs in with the API token: HttpOnly, SameSite=Strict session cookie; actions need the CSRF token", async () => {
    const res = await fetch(`${h.url}/login`, { method: "POST", body: new URLSearchParams({ token: API_TOKEN }), redirect: "manual" });
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^hoist_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const session = cookie.split(";")[0] as string;
    const noCsrf = await fetch(`${h.url}/apps/shop/rollback`, { method: "POST", headers: { cookie: session }, redirect: "manual" });
    expect(noCsrf.status).toBe(403);
    const board = await fetch(`${h.url}/admin/queues`, { headers: { cookie: session } });
    expect(board.status).toBe(200);
    const boardHtml = await board.text();
    expect(boardHtml).toContain('<div id="root">');
    // The queue board leads back to Hoist (its menu's link, from bull-board's uiConfig).
    expect(boardHtml).toMatch(/"miscLinks":\[\{"text":"← Back to Hoist","url":"\/"\}\]/);
  });

  it("shows the pipelines, streams a running build's log live, and rolls back", async () => {
    await page.goto(`${h.url}/login`);
    await page.fill("input[name=token]", API_TOKEN);
    await Promise.all([page.waitForURL(`${h.url}/`), page.click("button")]);
    const row = page.locator('tr[data-app="shop"]');
    await expect(row.textContent()).resolves.toContain("#2");
    await page.screenshot({ path: join(ARTIFACTS, "pipelines.png"), fullPage: true });

    // The build starts while the page is open: its lines must arrive without a reload.
    await h.deps.records.builds.transition(buildId, ["queued"], { status: "running", startedAt: new Date().toISOString() });
    await page.goto(`${h.url}/builds/${buildId}`);
    const log = new LogWriter(h.deps.redis, buildLogKey(h.prefix, buildId));
    log.write("clone", "fetching c0ffee over ssh");
    await log.flush();
    await page.locator("#log", { hasText: "[clone] fetching c0ffee over ssh" }).waitFor();
    log.write("build web", "STEP 1/2: FROM busybox");
    await log.flush();
    await page.locator("#log", { hasText: "[build web] STEP 1/2: FROM busybox" }).waitFor();
    await expect(page.locator('[data-stage="build"]').getAttribute("class")).resolves.toContain("active");
    await page.screenshot({ path: join(ARTIFACTS, "build-running.png"), fullPage: true });

    // The build ends: the page reloads itself with the final status and the timeline.
    await h.deps.records.builds.transition(buildId, ["running"], {
      status: "failed",
      reason: "build web: Dockerfile:2 RUN exit code 1",
      finishedAt: new Date().toISOString(),
    });
    await log.end("failed");
    await page.waitForSelector("#reason");
    await expect(page.locator("#reason").textContent()).resolves.toBe("build web: Dockerfile:2 RUN exit code 1");
    await expect(page.locator('[data-stage="build"]').getAttribute("class")).resolves.toContain("bad");
    await page.screenshot({ path: join(ARTIFACTS, "build.png"), fullPage: true });

    await page.goto(`${h.url}/apps/shop`);
    page.once("dialog", (d) => void d.accept());
    await Promise.all([page.waitForURL(`${h.url}/apps/shop`), page.click("text=Roll back")]);
    await expect(page.locator('tr[data-release="3"]').textContent()).resolves.toContain("pending");
    const releases = await h.api("GET", "/apps/shop/releases");
    expect(releases.body.releases[0]).toMatchObject({ number: 3, status: "pending" });
    expect(await h.deps.queues.queue("deploy").getJob(releases.body.releases[0].id)).toBeTruthy();
  });

  it("shows the environments side by side and promotes what is live in one into another", async () => {
    const staging = await h.api("POST", "/apps/shop/environments", {
      name: "staging",
      target: { kind: "local", services: { web: { port: 18998 } } },
    });
    expect(staging.status).toBe(201);
    // The setup moved release 2 to live by hand: its live pointer as the deployer sets it.
    const two = (await h.deps.records.releases.listByApp("shop")).find((r) => r.number === 2);
    await h.deps.redis.set(h.deps.records.keys.liveRelease("shop"), two?.id ?? "");
    await page.goto(`${h.url}/apps/shop`);
    const prod = page.locator('[data-environment="production"]');
    await expect(prod.textContent()).resolves.toMatch(/live: release #2/);
    await expect(prod.textContent()).resolves.toMatch(/waiting: #3/);
    const column = page.locator('[data-environment="staging"]');
    await expect(column.textContent()).resolves.toContain("nothing live");
    await page.screenshot({ path: join(ARTIFACTS, "environments.png"), fullPage: true });
    page.once("dialog", (d) => void d.accept());
    await Promise.all([page.waitForURL(`${h.url}/apps/shop`), column.locator("button", { hasText: "Promote #2 from production" }).click()]);
    await expect(page.locator('[data-environment="staging"] [data-waiting]').textContent()).resolves.toContain("#1");
    const releases = (await h.api("GET", "/apps/shop/releases?environment=staging")).body.releases;
    expect(releases).toEqual([expect.objectContaining({ environment: "staging", number: 1, status: "pending" })]);
    const live = (await h.api("GET", "/apps/shop/environments/production")).body.environment.live;
    expect(releases[0].buildId).toBe(live.buildId);
    expect(await h.deps.queues.queue("deploy").getJob(releases[0].id)).toBeTruthy();
  });

  it("lists the app's merge request previews with their MR links, not among the promotion chain", async () => {
    await h.deps.records.previews.upsert("shop", 42, {
      status: "building",
      sha: sha("d"),
      sourceBranch: "vouchers",
      fork: false,
      mrUrl: "https://gitlab.example.com/acme/shop/-/merge_requests/42",
      title: "Vouchers at checkout",
    });
    // A preview's environment, as the deployer makes it (the API refuses the name).
    const shop = await h.deps.records.apps.require("shop");
    await h.deps.records.environments.create(shop, {
      name: "mr-42",
      target: { kind: "local", services: { web: { port: 1, hosts: ["mr-42.shop.localhost"] } } },
    });
    await page.goto(`${h.url}/apps/shop`);
    expect(await page.locator('[data-environment="mr-42"]').count()).toBe(0);
    expect(await page.locator('[data-environment="staging"]').count()).toBe(1);
    const row = page.locator('#previews [data-preview="42"]');
    await expect(row.textContent()).resolves.toMatch(/!42\s*Vouchers at checkout\s*building\s*http:\/\/mr-42\.shop\.localhost/);
    await expect(row.locator("a").getAttribute("href")).resolves.toBe("https://gitlab.example.com/acme/shop/-/merge_requests/42");
    await page.screenshot({ path: join(ARTIFACTS, "previews.png"), fullPage: true });
  });

  it("a declined confirmation changes nothing", async () => {
    await page.goto(`${h.url}/apps/shop`);
    page.once("dialog", (d) => void d.dismiss());
    await page.click("text=Roll back");
    const releases = await h.api("GET", "/apps/shop/releases");
    expect(releases.body.releases).toHaveLength(3);
  });

  it("the queue board's actions need a same-origin Origin or Referer; one with neither is refused", async () => {
    const login = await fetch(`${h.url}/login`, { method: "POST", body: new URLSearchParams({ token: API_TOKEN }), redirect: "manual" });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const pause = (headers: Record<string, string>) =>
      fetch(`${h.url}/admin/queues/api/queues/notify/pause`, { method: "PUT", headers: { cookie, ...headers } });
    const refusedHeaders: Record<string, string>[] = [
      {},
      { origin: "https://evil.example" },
      { referer: "https://evil.example/admin/queues" },
      { origin: "null" },
    ];
    for (const headers of refusedHeaders) {
      const res = await pause(headers);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/cross-origin or unattributed request refused/);
    }
    expect(await h.deps.queues.queue("notify").isPaused()).toBe(false);
    const host = new URL(h.url).host;
    expect((await pause({ referer: `http://${host}/admin/queues` })).status).toBe(200);
    expect(await h.deps.queues.queue("notify").isPaused()).toBe(true);
    await h.deps.queues.queue("notify").resume();
    expect((await pause({ origin: `http://${host}` })).status).toBe(200);
    await h.deps.queues.queue("notify").resume();
  });

  it("every answer carries the security headers; the CSP runs the dashboard's own scripts and nothing injected", async () => {
    for (const path of ["/login", "/v1/apps", "/healthz", "/nope", "/admin/queues"]) {
      const res = await fetch(`${h.url}${path}`, { redirect: "manual" });
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      expect(res.headers.get("content-security-policy"), path).toMatch(/frame-ancestors 'none'/);
      expect(res.headers.get("x-frame-options"), path).toBe("DENY");
    }
    // A script the policy does not name is refused by the browser (the streaming log above ran under it).
    await page.goto(`${h.url}/login`);
    // (Strings, not functions: these run in the page, and this project compiles without the DOM's types.)
    const violation = page.evaluate(
      `new Promise((resolve) => document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective), { once: true }))`,
    );
    await page.evaluate(
      `{ const s = document.createElement("script"); s.textContent = "document.body.dataset.injected = 'yes'"; document.body.append(s); }`,
    );
    // An inserted script runs at once if allowed: checked first, so a lax policy fails here, not by a timeout.
    expect(await page.evaluate("document.body.dataset.injected")).toBeUndefined();
    expect(await violation).toMatch(/^script-src/);
  });

  it("serves the DORA figures on the page and at /v1/metrics/delivery", async () => {
    await page.goto(`${h.url}/delivery`);
    await expect(page.locator("main").textContent()).resolves.toContain("Deployment frequency");
    const res = await h.api("GET", "/metrics/delivery");
    expect(res.status).toBe(200);
    expect(res.body.overall.map((m: { windowDays: number }) => m.windowDays)).toEqual([7, 30]);
    expect(res.body.overall[0]).toMatchObject({ deployments: 2 });
    expect(res.body.apps[0].app).toBe("shop");
  });
});
