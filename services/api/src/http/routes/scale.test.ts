import type { Records } from "@hoist/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RouteServer, startRouteServer } from "../../testing/route-server.js";
import { appsRouter } from "./apps.js";
import { scaleRouter } from "./scale.js";

let records: Records;
let world: RouteServer;
let base: string;

beforeEach(async () => {
  world = await startRouteServer("scale-api", (app, deps) => {
    app.use("/v1", scaleRouter(deps));
    app.use("/v1", appsRouter(deps));
  });
  ({ records, base } = world);
  const common = { branch: "main", supersede: "running" as const, tagBuilds: true, buildTimeoutSec: 1800 };
  await records.apps.create({
    ...common,
    name: "shop",
    repo: { sshUrl: "ssh://git@127.0.0.1/shop.git" },
    target: { kind: "local", services: { web: { port: 18080 }, worker: { port: 18081, replicas: 2 } } },
  });
  await records.apps.create({
    ...common,
    name: "cloud",
    repo: { sshUrl: "ssh://git@127.0.0.1/cloud.git" },
    target: { kind: "ecs", cluster: "c", service: "s", containers: { web: "app" } },
  });
});

afterEach(async () => {
  await world.close();
});

async function shown(app: string): Promise<unknown> {
  return ((await (await fetch(`${base}/apps/${app}`)).json()) as { app: { scale: unknown } }).app.scale;
}

async function scale(app: string, body: unknown) {
  const res = await fetch(`${base}/apps/${app}/scale`, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { message: string } } };
}

describe("PATCH /v1/apps/:app/scale", () => {
  it("records replicas per service on the app, shown by GET /v1/apps/:app, without creating a release", async () => {
    expect(await shown("shop")).toEqual({ web: 1, worker: 2 });
    expect(await scale("shop", { web: 3 })).toEqual({ status: 200, body: { app: "shop", scale: { web: 3, worker: 2 } } });
    expect((await records.apps.require("shop")).scale).toEqual({ web: 3 });
    expect(await shown("shop")).toEqual({ web: 3, worker: 2 });
    expect(await scale("shop", { worker: 1 })).toMatchObject({ status: 200, body: { scale: { web: 3, worker: 1 } } });
    expect(await records.releases.listByApp("shop")).toEqual([]);
  });

  it("records the ECS service's desiredCount", async () => {
    expect(await scale("cloud", { web: 4 })).toEqual({ status: 200, body: { app: "cloud", scale: { web: 4 } } });
    expect(await shown("cloud")).toEqual({ web: 4 });
  });

  it("refuses a negative or fractional count, an unknown service, an empty body and a local count past the limits (400)", async () => {
    const neg = await scale("shop", { web: -1 });
    expect(neg.status).toBe(400);
    expect(neg.body.error?.message).toContain("a count is not negative");
    expect((await scale("shop", { web: 1.5 })).body.error?.message).toContain("a count is a whole number");
    const unknown = await scale("shop", { api: 2 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error?.message).toBe("app shop has no service api; its services are web, worker");
    expect((await scale("cloud", { api: 2 })).status).toBe(400);
    expect((await scale("shop", {})).status).toBe(400);
    expect((await scale("shop", { web: 0 })).body.error?.message).toBe("a local-target service runs 1 to 20 containers (web: 0)");
    expect((await scale("shop", { web: 21 })).status).toBe(400);
    expect((await scale("nope", { web: 1 })).status).toBe(404);
    expect((await records.apps.require("shop")).scale).toBeUndefined();
  });
});
