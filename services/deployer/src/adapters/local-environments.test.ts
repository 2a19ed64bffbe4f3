import type Docker from "dockerode";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { removeCaddyDir, startCaddy } from "../../../../test/support/caddy.js";
import { removeLocalApp } from "../../../../test/support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../../../../test/support/deploy/http-app.js";
import { deployPorts } from "../jobs/ports.js";
import { reconcileDeps } from "../jobs/reconcile.js";
import { DeployerHarness } from "../testing/harness.js";
import { freePort } from "../testing/ports.js";
import { caddyEdgeProvider } from "./caddy/provider.js";
import { createDocker } from "./clients.js";
import { startReconcileLoop } from "./local-reconcile.js";
import { appNetworkName, LABELS } from "./local-target.js";

/**
 * Environments on the local target: an app made before environments deploys exactly as before (its
 * production keeps the app's keys, labels, network and Caddy route), and another environment of the
 * same app runs beside it on its own port, with its own variables, containers, lock and live release.
 */
const docker: Docker = createDocker();
const images: Record<string, string> = {};

beforeAll(async () => {
  if (!process.env.DOCKER_HOST) throw new Error("DOCKER_HOST is not set: run through vitest's global setup with podman");
  images.v1 = await buildHttpAppImage(docker, builderTag("envs", "web", 1), "envs build 1");
  images.v2 = await buildHttpAppImage(docker, builderTag("envs", "web", 2), "envs build 2");
}, 120_000);

let h: DeployerHarness;
let prodPort: number;
let stagingPort: number;
let app: string;
let n = 0;

beforeEach(async () => {
  h = new DeployerHarness();
  prodPort = await freePort();
  stagingPort = await freePort();
  app = `envs-${process.pid}-${++n}`;
});

afterEach(async () => {
  await removeLocalApp(docker, app);
  await removeLocalApp(docker, `${app}@staging`);
  await h.close();
});
afterAll(async () => {
  for (const tag of Object.values(images))
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {});
});

async function get(port: number, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return `${res.status} ${(await res.text()).trim()}`;
}
/** What `read` answers once it answers `want`, or what it last answered after 5 s. */
async function eventually(read: () => Promise<string>, want: string): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const got = await read();
    if (got === want || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}
const containersOf = (unit: string) => docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${unit}`] } });
const web = (port: number) => ({ kind: "local" as const, services: { web: { port, healthPath: "/healthz", healthTimeout: 5 } } });

describe("environments on the local target (podman, Caddy)", () => {
  it("deploys an app and a release stored before environments as before: production, the app's keys, labels and network", async () => {
    await h.createApp(app, web(prodPort));
    h.startWorker();
    const r1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }], { GREETING: "prod vars" });
    // Stored as an older Hoist stored it: no environment field on the release.
    await h.redis.hdel(h.records.keys.release(r1.id), "environment");
    const d1 = await h.deploy(r1.id);
    expect(d1.outcome).toBe("completed");
    expect(d1.release).toMatchObject({ status: "live", environment: "production", number: 1 });
    expect(await h.redis.get(`${h.prefix}:deployer:live:${app}`)).toBe(r1.id);
    expect(await get(prodPort, "/")).toBe("200 envs build 1");
    expect(await get(prodPort, "/env.txt")).toBe("200 prod vars");
    const [c] = await containersOf(app);
    expect(c?.Labels[LABELS.release]).toBe(r1.id);
    expect(Object.keys((await docker.getContainer(c!.Id).inspect()).NetworkSettings.Networks)).toEqual([`hoist-app-${app}`]);
    expect((await h.queues.queue("notify").getJob(`slack.release.live.${r1.id}`))?.data).toMatchObject({ app, environment: "production" });
  });

  it("runs a staging environment beside production: its own port, variables, containers and live release; neither touches the other", async () => {
    const created = await h.createApp(app, web(prodPort));
    await h.records.environments.create(created, { name: "staging", target: web(stagingPort), auto: true });
    h.startWorker({}, 2);
    const p1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }], { GREETING: "prod vars" });
    expect((await h.deploy(p1.id)).release.status).toBe("live");
    const [prodContainer] = await containersOf(app);

    const s1 = await h.createRelease(app, [{ service: "web", tag: images.v2! }], { GREETING: "staging vars" }, { environment: "staging" });
    expect(s1.number).toBe(1);
    const d = await h.deploy(s1.id);
    expect(d.outcome, d.error).toBe("completed");
    expect(d.release).toMatchObject({ status: "live", environment: "staging" });
    expect(await get(stagingPort, "/")).toBe("200 envs build 2");
    expect(await get(stagingPort, "/env.txt")).toBe("200 staging vars");
    expect(await get(prodPort, "/")).toBe("200 envs build 1");
    expect(await get(prodPort, "/env.txt")).toBe("200 prod vars");
    expect(await h.redis.get(h.records.keys.liveRelease(`${app}@staging`))).toBe(s1.id);
    expect(await h.redis.get(h.records.keys.liveRelease(app))).toBe(p1.id);
    expect((await h.records.releases.require(p1.id)).status).toBe("live");

    const staging = await containersOf(`${app}@staging`);
    expect(staging.map((c) => c.Labels[LABELS.release])).toEqual([s1.id]);
    const info = await docker.getContainer(staging[0]!.Id).inspect();
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([appNetworkName(`${app}@staging`)]);
    expect(appNetworkName(`${app}@staging`)).toBe(`hoist-app-${app}_staging`);
    // Production's container was never touched.
    expect((await containersOf(app)).map((c) => [c.Id, c.State])).toEqual([[prodContainer!.Id, "running"]]);

    // The next production release replaces production's container only.
    const p2 = await h.createRelease(app, [{ service: "web", tag: images.v2! }], { GREETING: "prod vars 2" });
    expect((await h.deploy(p2.id)).release.status).toBe("live");
    expect(p2.number).toBe(2);
    expect(await get(prodPort, "/env.txt")).toBe("200 prod vars 2");
    expect(await get(stagingPort, "/env.txt")).toBe("200 staging vars");
    expect((await containersOf(`${app}@staging`)).map((c) => [c.Id, c.State])).toEqual([[staging[0]!.Id, "running"]]);
    expect((await h.records.releases.require(s1.id)).status).toBe("live");
    expect((await h.records.releases.require(p1.id)).status).toBe("retired");

    // The next staging release swaps staging's upstreams in Caddy (its route id holds the '@').
    const s2 = await h.createRelease(
      app,
      [{ service: "web", tag: images.v1! }],
      { GREETING: "staging vars 2" },
      { environment: "staging" },
    );
    const d2 = await h.deploy(s2.id);
    expect(d2.outcome, d2.error).toBe("completed");
    expect(s2.number).toBe(2);
    expect(await h.logLines(s2.id)).toEqual(expect.arrayContaining([expect.stringMatching(/now sends web to .* \(switch \d+ ms\)$/)]));
    expect(await get(stagingPort, "/env.txt")).toBe("200 staging vars 2");
    expect((await containersOf(`${app}@staging`)).map((c) => c.Labels[LABELS.release])).toEqual([s2.id]);
    expect(await get(prodPort, "/env.txt")).toBe("200 prod vars 2");
  });

  it("fails a release whose environment was deleted, for good, without touching the target", async () => {
    const created = await h.createApp(app, web(prodPort));
    await h.records.environments.create(created, { name: "staging", target: web(stagingPort) });
    h.startWorker();
    const s1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }], {}, { environment: "staging" });
    await h.records.environments.delete(app, "staging");
    const d = await h.deploy(s1.id);
    expect(d.outcome).toBe("failed");
    expect(d.release).toMatchObject({ status: "failed", reason: `app ${app} or its environment staging does not exist any more` });
    expect(await containersOf(`${app}@staging`)).toEqual([]);
  });

  it("reconcile repairs each environment as it does an app, and drops the routes of a deleted environment", async () => {
    // A Caddy of this test's own: the reconcile removes every Hoist route its records do not serve.
    const caddy = await startCaddy();
    const edges = caddyEdgeProvider({ adminUrl: caddy.adminUrl });
    try {
      const created = await h.createApp(app, web(prodPort));
      await h.records.environments.create(created, { name: "staging", target: web(stagingPort) });
      h.startWorker({ edges });
      const p1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }]);
      const s1 = await h.createRelease(app, [{ service: "web", tag: images.v2! }], {}, { environment: "staging" });
      expect((await h.deploy(p1.id)).release.status).toBe("live");
      expect((await h.deploy(s1.id)).release.status).toBe("live");
      const deps = h.deps({ edges });
      const loop = startReconcileLoop(reconcileDeps(deps, deployPorts(deps), h.log), 3600);
      try {
        expect(await loop.round()).toEqual([]);
        const [victim] = await containersOf(`${app}@staging`);
        await docker.getContainer(victim!.Id).kill();
        const repairs = await loop.round();
        expect(repairs.some((r) => r.startsWith(`${app}@staging: started 1 web container(s) of live release ${s1.id}`))).toBe(true);
        expect(repairs.filter((r) => r.startsWith(`${app}:`))).toEqual([]);
        // Caddy's active health check (every 1 s) admits the new upstream.
        expect(await eventually(() => get(stagingPort, "/"), "200 envs build 2")).toBe("200 envs build 2");
        expect(await get(prodPort, "/")).toBe("200 envs build 1");

        await h.records.environments.delete(app, "staging");
        expect(await loop.round()).toEqual([
          `${app}@staging: removed stale Caddy route hoist-${app}@staging.web (no live release serves it)`,
        ]);
        expect((await (await edges.edge()).snapshot()).map((r) => r.id)).toEqual([`hoist-${app}.web`]);
        expect(await get(prodPort, "/")).toBe("200 envs build 1");
      } finally {
        await loop.stop();
      }
    } finally {
      await h.close();
      h = new DeployerHarness();
      await edges.close();
      await caddy.stop();
      removeCaddyDir(caddy.dir);
    }
  }, 120_000);
});
