import { type Release, secretContexts } from "@hoist/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ApiDeps } from "../../deps.js";
import { type RouteServer, startRouteServer } from "../../testing/route-server.js";
import { releasesRouter } from "./releases.js";

let deps: ApiDeps;
let world: RouteServer;
let base: string;

beforeEach(async () => {
  world = await startRouteServer("rel-api", (app, deps) => {
    app.use("/v1", releasesRouter(deps));
  });
  ({ deps, base } = world);
  const { records } = world;
  await records.apps.create({
    name: "shop",
    branch: "main",
    repo: { sshUrl: "ssh://git@127.0.0.1/shop.git" },
    target: { kind: "local", services: { web: { port: 18080 } } },
    supersede: "running",
    tagBuilds: true,
    buildTimeoutSec: 1800,
  });
});

afterEach(async () => {
  await world.close();
});

async function release(status: Release["status"], extra: Partial<Release> = {}): Promise<Release> {
  const build = await deps.records.builds.create({ app: "shop", ref: "refs/heads/main", sha: "c".repeat(40), trigger: "push" });
  const images = [{ service: "web", tag: `127.0.0.1:5000/shop:web.${build.number}`, digest: `sha256:${"d".repeat(64)}` }];
  const env = await deps.secrets.seal(JSON.stringify({ SECRET_TOKEN: "s3cret" }), secretContexts.appEnv("shop"));
  const r = await deps.records.releases.create({ app: "shop", buildId: build.id, images, env });
  const now = new Date().toISOString();
  await deps.records.releases.patch(r.id, {
    status,
    ...(status === "live" || status === "retired" || status === "rolled_back" ? { liveAt: now } : {}),
    ...extra,
  });
  return deps.records.releases.require(r.id);
}

async function call(method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function deployJob(id: string) {
  return deps.queues.queue("deploy").getJob(id);
}

describe("releases API", () => {
  it("lists an app's releases newest first in the API shape, without env or images", async () => {
    const r1 = await release("retired");
    const r2 = await release("failed", { reason: "superseded" });
    const r3 = await release("live");
    const { status, body } = await call("GET", "/apps/shop/releases");
    expect(status).toBe(200);
    const list = body.releases as Record<string, unknown>[];
    expect(list.map((r) => r.id)).toEqual([r3.id, r2.id, r1.id]);
    expect(list[1]).toEqual({
      id: r2.id,
      app: "shop",
      environment: "production",
      number: 2,
      buildId: r2.buildId,
      status: "failed",
      reason: "superseded",
      createdAt: r2.createdAt,
      liveAt: r2.liveAt,
    });
    expect(Object.keys(list[0]!).sort()).toEqual(["app", "buildId", "createdAt", "environment", "id", "liveAt", "number", "status"]);
    expect(JSON.stringify(body)).not.toContain("ciphertext");
    expect((await call("GET", "/apps/shop/releases?limit=1&offset=1")).body.releases).toHaveLength(1);
  });

  it("shows one release, 404s a missing one and 400s a malformed id or app", async () => {
    const r = await release("live");
    expect(await call("GET", `/releases/${r.id}`)).toEqual({
      status: 200,
      body: {
        id: r.id,
        app: "shop",
        environment: "production",
        number: r.number,
        buildId: r.buildId,
        status: "live",
        createdAt: r.createdAt,
        liveAt: r.liveAt,
      },
    });
    expect(await call("GET", "/releases/rel_nope")).toEqual({
      status: 404,
      body: { error: { code: "not_found", message: "release rel_nope not found" } },
    });
    expect((await call("GET", "/releases/bad%20id")).status).toBe(400);
    expect((await call("GET", "/apps/Not_An_App/releases")).status).toBe(400);
    expect((await call("GET", "/apps/ghost/releases")).status).toBe(404);
  });

  it("rollback creates a new release from the previous live one and queues its deploy", async () => {
    const older = await release("retired");
    const previous = await release("retired");
    await release("failed", { reason: "health check" });
    const live = await release("live");
    const { status, body } = await call("POST", "/apps/shop/rollback");
    expect(status).toBe(202);
    expect(body).toMatchObject({ app: "shop", number: 5, buildId: previous.buildId, status: "pending" });
    const created = await deps.records.releases.require(body.id as string);
    expect(created.images).toEqual(previous.images);
    expect(created.env).toEqual(previous.env);
    expect(created.sourceReleaseId).toBe(previous.id);
    expect(created.rollbackOf).toBe(live.id);
    expect((await deployJob(created.id))?.data).toEqual({ kind: "deploy", releaseId: created.id });
    expect(older.status).toBe("retired");
  });

  it("rollback answers 409 when there is nothing to roll back to", async () => {
    expect(await call("POST", "/apps/shop/rollback")).toEqual({
      status: 409,
      body: { error: { code: "no_live_release", message: "app shop has no live release to roll back" } },
    });
    await release("live");
    expect((await call("POST", "/apps/shop/rollback")).body).toEqual({
      error: { code: "no_previous_release", message: "app shop has no earlier release that was live to roll back to" },
    });
  });

  it("promote redeploys a failed release newer than the live one as it is, and queues its deploy", async () => {
    await release("live");
    const failed = await release("failed", { reason: "ECS rollout failed: x", finishedAt: new Date().toISOString() });
    const { status, body } = await call("POST", `/apps/shop/releases/${failed.id}/promote`);
    expect(status).toBe(202);
    expect(body).toMatchObject({ id: failed.id, status: "pending" });
    expect(body.reason).toBeUndefined();
    const jobs = await deps.queues.queue("deploy").getJobs(["waiting"]);
    expect(jobs.map((j) => j.data)).toEqual([{ kind: "deploy", releaseId: failed.id }]);
    expect((await call("POST", `/apps/shop/releases/${failed.id}/promote`)).status).toBe(409);
  });

  it("promote of a release older than the live one deploys a copy as the newest release", async () => {
    const old = await release("retired");
    await release("live");
    const { status, body } = await call("POST", `/apps/shop/releases/${old.id}/promote`);
    expect(status).toBe(202);
    expect(body).toMatchObject({ number: 3, buildId: old.buildId, status: "pending" });
    expect((await deps.records.releases.require(body.id as string)).sourceReleaseId).toBe(old.id);
    expect(await deployJob(body.id as string)).toBeDefined();
  });

  it("promote refuses the live release and a release of another app", async () => {
    const live = await release("live");
    expect((await call("POST", `/apps/shop/releases/${live.id}/promote`)).body).toEqual({
      error: { code: "already_live", message: `release ${live.id} is already live` },
    });
    await deps.records.apps.create({
      name: "other",
      branch: "main",
      repo: { sshUrl: "ssh://git@127.0.0.1/other.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
    });
    expect((await call("POST", `/apps/other/releases/${live.id}/promote`)).status).toBe(404);
  });

  it("marks the new release failed, not pending forever, when its deploy cannot be queued (503)", async () => {
    await release("retired");
    await release("live");
    const real = deps.queues;
    // Fault injection: the queue connection drops between storing the release and queueing its job.
    deps.queues = Object.assign(Object.create(real) as typeof real, {
      enqueue: async () => {
        throw new Error("Connection is closed.");
      },
    });
    const { status, body } = await call("POST", "/apps/shop/rollback");
    deps.queues = real;
    expect(status).toBe(503);
    const [newest] = await deps.records.releases.listByApp("shop", 1);
    expect(body).toEqual({
      error: {
        code: "unavailable",
        message: `release ${newest?.id} was stored but its deploy could not be queued (Connection is closed.); promote it to try again`,
      },
    });
    expect(newest).toMatchObject({
      number: 3,
      status: "failed",
      reason: "the deploy could not be queued; promote the release to try again",
    });
  });
});
