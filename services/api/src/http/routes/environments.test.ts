import { type Records, secretContexts } from "@hoist/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ApiDeps } from "../../deps.js";
import { type RouteServer, startRouteServer } from "../../testing/route-server.js";
import { environmentsRouter } from "./environments.js";
import { releasesRouter } from "./releases.js";

let records: Records;
let deps: ApiDeps;
let world: RouteServer;
let base: string;

const web = (port: number) => ({ kind: "local" as const, services: { web: { port } } });
const freeze = { cron: "0 18 * * 5", duration: "62h", timezone: "Europe/Berlin" };

beforeEach(async () => {
  world = await startRouteServer("envs-api", (app, deps) => {
    // What authorize() sets in the API: the caller's role on the app (here: from a test header).
    app.use((req, res, next) => {
      res.locals.role = req.get("x-test-role") ?? "maintainer";
      next();
    });
    app.use("/v1", environmentsRouter(deps));
    app.use("/v1", releasesRouter(deps));
  });
  ({ records, deps, base } = world);
  await records.apps.create({
    name: "shop",
    branch: "main",
    supersede: "running",
    tagBuilds: true,
    buildTimeoutSec: 1800,
    repo: { sshUrl: "ssh://git@127.0.0.1/shop.git" },
    target: web(18080),
  });
});

afterEach(async () => {
  await world.close();
});

// biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
async function call(method: string, path: string, body?: unknown, role?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(role ? { "x-test-role": role } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function succeededBuild(images = [{ service: "web", tag: "127.0.0.1:5000/shop:web.1", digest: `sha256:${"a".repeat(64)}` }]) {
  const build = await records.builds.create({ app: "shop", ref: "refs/heads/main", sha: "a".repeat(40), trigger: "push" });
  await records.builds.patch(build.id, { status: "succeeded", images });
  return { ...build, images };
}

describe("/v1/apps/:app/environments", () => {
  it("lists production (the app itself) first; creates, shows, changes and deletes other environments", async () => {
    expect(await call("GET", "/apps/shop/environments")).toEqual({
      status: 200,
      body: { environments: [{ name: "production", target: web(18080), auto: true, requiredApprovals: 0, freezes: [] }] },
    });
    const created = await call("POST", "/apps/shop/environments", {
      name: "staging",
      target: web(18082),
      env: { GREETING: "staging" },
      auto: true,
      freezes: [freeze],
    });
    expect(created).toEqual({
      status: 201,
      body: { environment: { name: "staging", target: web(18082), auto: true, requiredApprovals: 0, freezes: [freeze] } },
    });
    // The variables are sealed for the environment's own unit, never answered.
    const stored = await records.environments.get(await records.apps.require("shop"), "staging");
    const opened = await deps.secrets.open(stored!.env!, secretContexts.environmentEnv("shop", "staging"));
    expect(JSON.parse(opened.toString())).toEqual({ GREETING: "staging" });
    await expect(deps.secrets.open(stored!.env!, secretContexts.appEnv("shop"))).rejects.toThrow();

    expect((await call("GET", "/apps/shop/environments")).body.environments.map((e: { name: string }) => e.name)).toEqual([
      "production",
      "staging",
    ]);
    expect((await call("GET", "/apps/shop/environments/staging")).body.environment.freezes).toEqual([freeze]);
    expect(await call("POST", "/apps/shop/environments", { name: "staging", target: web(1) })).toMatchObject({ status: 409 });

    const patched = await call("PATCH", "/apps/shop/environments/production", { auto: false, requiredApprovals: 2, env: { A: "1" } });
    expect(patched.body.environment).toMatchObject({ name: "production", auto: false, requiredApprovals: 2, target: web(18080) });
    const app = await records.apps.require("shop");
    expect(JSON.parse((await deps.secrets.open(app.env!, secretContexts.appEnv("shop"))).toString())).toEqual({ A: "1" });
    expect((await call("PATCH", "/apps/shop/environments/staging", { target: web(18083), env: null })).body.environment.target).toEqual(
      web(18083),
    );
    expect((await records.environments.get(app, "staging"))?.env).toBeUndefined();

    expect(await call("DELETE", "/apps/shop/environments/production")).toMatchObject({
      status: 409,
      body: { error: { code: "production" } },
    });
    expect((await call("DELETE", "/apps/shop/environments/staging")).status).toBe(204);
    expect(await call("GET", "/apps/shop/environments/staging")).toMatchObject({ status: 404 });
    expect(await call("DELETE", "/apps/shop/environments/staging")).toMatchObject({ status: 404 });
    expect(await call("GET", "/apps/nope/environments")).toMatchObject({ status: 404 });
  });

  it("answers 400 naming the field for a bad cron, duration, timezone, name or body", async () => {
    const bad = async (body: Record<string, unknown>) => {
      const res = await call("POST", "/apps/shop/environments", { name: "staging", target: web(18082), ...body });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      return res.body.error.message as string;
    };
    expect(await bad({ freezes: [{ ...freeze, cron: "0 25 * * 5" }] })).toMatch(
      /^freezes\.0\.cron: cron "0 25 \* \* 5" is not a cron expression/,
    );
    expect(await bad({ freezes: [freeze, { ...freeze, duration: "2 days" }] })).toMatch(/^freezes\.1\.duration: duration is one or more/);
    expect(await bad({ freezes: [{ ...freeze, timezone: "Europe/Atlantis" }] })).toBe(
      'freezes.0.timezone: timezone "Europe/Atlantis" is not an IANA time zone name such as Europe/Berlin or UTC',
    );
    expect(await bad({ name: "Staging" })).toMatch(/^name: an environment name is/);
    // mr-<iid> is a merge request's preview's: Hoist makes those itself.
    expect(await bad({ name: "mr-42" })).toBe(
      "name: environment names mr-<number> are reserved for merge request previews (docs/previews.md): choose another name",
    );
    expect((await call("POST", "/apps/shop/environments", { name: "mr-web", target: web(18083) })).status).toBe(201);
    expect(await bad({ requiredApprovals: -1 })).toBe("requiredApprovals: requiredApprovals is 0 or more");
    expect(await bad({ auto: "yes" })).toBe("auto: auto is true or false");
    expect(await bad({ target: undefined })).toMatch(/^target: /);
    const patch = await call("PATCH", "/apps/shop/environments/production", { freezes: [{ ...freeze, cron: "nope" }] });
    expect(patch).toMatchObject({ status: 400 });
    expect(patch.body.error.message).toMatch(/^freezes\.0\.cron: cron is 5 fields/);
  });

  it("promotes a release or a succeeded build into an environment: the same images, that environment's variables, a deploy job", async () => {
    await call("POST", "/apps/shop/environments", { name: "staging", target: web(18082), env: { WHERE: "staging" } });
    const build = await succeededBuild();
    const prodEnv = await deps.secrets.seal(JSON.stringify({ WHERE: "production" }), secretContexts.appEnv("shop"));
    const source = await records.releases.create({ app: "shop", buildId: build.id, images: build.images, env: prodEnv });

    const res = await call("POST", "/apps/shop/environments/staging/promote", { releaseId: source.id }, "deployer");
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ app: "shop", environment: "staging", number: 1, buildId: build.id, status: "pending" });
    const promoted = await records.releases.require(res.body.id);
    expect(promoted.images).toEqual(source.images);
    expect(promoted.sourceReleaseId).toBe(source.id);
    expect(JSON.parse((await deps.secrets.open(promoted.env!, secretContexts.environmentEnv("shop", "staging"))).toString())).toEqual({
      WHERE: "staging",
    });
    expect((await deps.queues.queue("deploy").getJob(promoted.id))?.data).toMatchObject({ kind: "deploy", releaseId: promoted.id });

    const fromBuild = await call("POST", "/apps/shop/environments/staging/promote", { buildId: build.id });
    expect(fromBuild.body).toMatchObject({ environment: "staging", number: 2, buildId: build.id });
    expect((await records.releases.require(fromBuild.body.id)).images).toEqual(build.images);

    // Each environment lists its own releases; without ?environment= the list is production's, as before.
    expect((await call("GET", "/apps/shop/releases")).body.releases.map((r: { id: string }) => r.id)).toEqual([source.id]);
    expect((await call("GET", "/apps/shop/releases?environment=staging")).body.releases.map((r: { number: number }) => r.number)).toEqual([
      2, 1,
    ]);

    const failed = await records.builds.create({ app: "shop", ref: "refs/heads/main", sha: "b".repeat(40), trigger: "push" });
    expect(await call("POST", "/apps/shop/environments/staging/promote", { buildId: failed.id })).toMatchObject({
      status: 409,
      body: { error: { code: "build_not_succeeded" } },
    });
    expect(await call("POST", "/apps/shop/environments/staging/promote", { releaseId: "rel_nope" })).toMatchObject({ status: 404 });
    expect(await call("POST", "/apps/shop/environments/staging/promote", {})).toMatchObject({ status: 400 });
    expect(await call("POST", "/apps/shop/environments/qa/promote", { releaseId: source.id })).toMatchObject({ status: 404 });
  });

  it("lets only a maintainer promote into an environment that requires approvals", async () => {
    await call("POST", "/apps/shop/environments", { name: "staging", target: web(18082), requiredApprovals: 1 });
    const build = await succeededBuild();
    const refused = await call("POST", "/apps/shop/environments/staging/promote", { buildId: build.id }, "deployer");
    expect(refused).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    expect(refused.body.error.message).toContain("requires approvals");
    expect(await records.releases.listByEnvironment("shop", "staging")).toEqual([]);
    expect((await call("POST", "/apps/shop/environments/staging/promote", { buildId: build.id }, "maintainer")).status).toBe(202);
  });
});
