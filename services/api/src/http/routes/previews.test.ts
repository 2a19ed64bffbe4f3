import { type Records, secretContexts } from "@hoist/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ApiDeps } from "../../deps.js";
import { type RouteServer, startRouteServer } from "../../testing/route-server.js";
import { appsRouter } from "./apps.js";
import { environmentsRouter } from "./environments.js";
import { previewsRouter } from "./previews.js";

let records: Records;
let deps: ApiDeps;
let world: RouteServer;
let base: string;

const sha = (c: string) => c.repeat(40);

beforeEach(async () => {
  world = await startRouteServer("previews-api", (app, deps) => {
    app.use((_req, res, next) => {
      res.locals.role = "maintainer";
      next();
    });
    app.use("/v1", appsRouter(deps));
    app.use("/v1", environmentsRouter(deps));
    app.use("/v1", previewsRouter(deps));
  });
  ({ records, deps, base } = world);
  await records.apps.create({
    name: "shop",
    branch: "main",
    supersede: "running",
    tagBuilds: true,
    buildTimeoutSec: 1800,
    repo: { sshUrl: "ssh://git@127.0.0.1/shop.git" },
    target: { kind: "local", services: { web: { port: 18090 } } },
  });
});

afterEach(async () => {
  await world.close();
});

// biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

describe("PATCH /v1/apps/:app previews", () => {
  it("shows the defaults, takes settings, seals env (keys shown, values never) and keeps what a later PATCH leaves out", async () => {
    expect((await call("GET", "/apps/shop")).body.app.previews).toEqual({
      enabled: false,
      from: "production",
      ttlHours: 72,
      max: 5,
      hosts: "mr-{iid}.{app}.{domain}",
      forks: false,
      env: { keys: [] },
    });
    const patched = await call("PATCH", "/apps/shop", {
      previews: { enabled: true, max: 2, env: { API_KEY: "s3cret-value", DEBUG: "1" } },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.app.previews).toMatchObject({ enabled: true, max: 2, ttlHours: 72, env: { keys: ["API_KEY", "DEBUG"] } });
    expect(patched.text).not.toContain("s3cret-value");
    const got = await call("GET", "/apps/shop");
    expect(got.text).not.toContain("s3cret-value");
    expect(got.text).not.toContain("ciphertext");
    // Stored sealed for the app's previews, and opens to what was sent.
    const stored = (await records.apps.require("shop")).previews;
    expect(JSON.stringify(stored)).not.toContain("s3cret-value");
    const opened = await deps.secrets.open(stored?.env as never, secretContexts.previewEnv("shop"));
    expect(JSON.parse(opened.toString())).toEqual({ API_KEY: "s3cret-value", DEBUG: "1" });
    // A later PATCH changes only what it names; env: null removes the overrides.
    await call("PATCH", "/apps/shop", { previews: { ttlHours: 24 } });
    expect((await call("GET", "/apps/shop")).body.app.previews).toMatchObject({
      enabled: true,
      max: 2,
      ttlHours: 24,
      env: { keys: ["API_KEY", "DEBUG"] },
    });
    await call("PATCH", "/apps/shop", { previews: { env: null } });
    expect((await call("GET", "/apps/shop")).body.app.previews.env).toEqual({ keys: [] });
    expect((await records.apps.require("shop")).previews?.env).toBeUndefined();
  });

  it("answers 400 naming the bad field, and a from that names no environment of the app", async () => {
    const bad = async (previews: unknown) => {
      const res = await call("PATCH", "/apps/shop", { previews });
      expect(res.status, res.text).toBe(400);
      return res.body.error.message as string;
    };
    expect(await bad({ ttlHours: 0 })).toBe("previews.ttlHours: ttlHours is at least 1");
    expect(await bad({ max: 2.5 })).toBe("previews.max: max is a whole number of previews");
    expect(await bad({ enabled: "yes" })).toBe("previews.enabled: enabled is true or false");
    expect(await bad({ hosts: "preview.{app}.{domain}" })).toMatch(/^previews\.hosts: hosts must contain \{iid\}/);
    expect(await bad({ hosts: "mr-{iid}.{branch}.{domain}" })).toMatch(/^previews\.hosts: hosts may only use the placeholders/);
    expect(await bad({ hosts: "MR-{iid}.{domain}" })).toMatch(/^previews\.hosts: hosts must make a lowercase DNS name/);
    expect(await bad({ env: { "1BAD": "x" } })).toMatch(/^previews\.env\.1BAD: /);
    expect(await bad({ colour: "blue" })).toMatch(/^previews: Unrecognized key: "colour"/);
    expect(await bad({ from: "staging" })).toBe(
      "previews.from: app shop has no environment staging (its environments: production); create it or name another",
    );
    expect(await bad({ from: "mr-3" })).toMatch(/^previews\.from: from names the environment previews copy, not a preview/);
    expect((await records.apps.require("shop")).previews).toBeUndefined();
    // Once staging exists it may be the source.
    expect((await call("POST", "/apps/shop/environments", { name: "staging", target: { kind: "local", services: {} } })).status).toBe(201);
    const ok = await call("PATCH", "/apps/shop", { previews: { from: "staging", enabled: true } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.app.previews).toMatchObject({ from: "staging", enabled: true });
  });
});

describe("/v1/apps/:app/previews", () => {
  it("lists the app's previews most recently updated first, with the MR's link and title", async () => {
    expect(await call("GET", "/apps/shop/previews")).toMatchObject({ status: 200, body: { previews: [] } });
    await records.previews.upsert("shop", 7, { status: "building", sha: sha("a"), sourceBranch: "feat-a", fork: false });
    await new Promise((r) => setTimeout(r, 5));
    await records.previews.upsert("shop", 9, {
      status: "building",
      sha: sha("b"),
      sourceBranch: "feat-b",
      fork: false,
      mrUrl: "https://gitlab.example.com/acme/shop/-/merge_requests/9",
      title: "Add a basket",
    });
    await records.previews.transition("shop", 9, ["building"], { status: "deploying" });
    await records.previews.transition("shop", 9, ["deploying"], { status: "live", url: "https://mr-9.shop.apps.example.com" });
    const res = await call("GET", "/apps/shop/previews");
    expect(res.status).toBe(200);
    const updated9 = (await records.previews.get("shop", 9))?.updatedAt;
    const updated7 = (await records.previews.get("shop", 7))?.updatedAt;
    expect(res.body).toEqual({
      previews: [
        {
          iid: 9,
          url: "https://mr-9.shop.apps.example.com",
          status: "live",
          sha: sha("b"),
          updatedAt: updated9,
          mrUrl: "https://gitlab.example.com/acme/shop/-/merge_requests/9",
          title: "Add a basket",
        },
        // Before the deployer says its URL: the one the app's host template and HOIST_APPS_DOMAIN give.
        { iid: 7, url: "http://mr-7.shop.localhost", status: "building", sha: sha("a"), updatedAt: updated7 },
      ],
    });
    expect(await call("GET", "/apps/nope/previews")).toMatchObject({ status: 404 });
  });

  it("DELETE enqueues a close job with reason deleted and answers 202 stopping; 404 when the MR has no preview", async () => {
    await records.previews.upsert("shop", 4, { status: "building", sha: sha("c"), sourceBranch: "feat-c", fork: false });
    const res = await call("DELETE", "/apps/shop/previews/4");
    expect(res).toMatchObject({ status: 202, body: { status: "stopping" } });
    const jobs = await deps.queues.queue("previews").getJobs(["waiting"]);
    expect(jobs.map((j) => j.data)).toEqual([
      { kind: "close", app: "shop", iid: 4, reason: "deleted", deliveryId: expect.stringMatching(/^del-/) },
    ]);
    expect(jobs[0]?.id).toBe(`close.shop.4.${jobs[0]?.data.deliveryId}`);
    const none = await call("DELETE", "/apps/shop/previews/5");
    expect(none).toMatchObject({
      status: 404,
      body: { error: { code: "not_found", message: "app shop has no preview of merge request !5" } },
    });
    expect((await call("DELETE", "/apps/shop/previews/abc")).status).toBe(400);
    expect((await call("DELETE", "/apps/nope/previews/4")).status).toBe(404);
    expect(await deps.queues.queue("previews").count()).toBe(1);
  });
});
