import type Docker from "dockerode";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type CaddyProcess, removeCaddyDir, startCaddy } from "../../../../test/support/caddy.js";
import { removeLocalApp } from "../../../../test/support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../../../../test/support/deploy/http-app.js";
import { getViaHost } from "../../../../test/support/net.js";
import { deployPorts } from "../jobs/ports.js";
import { reconcileDeps } from "../jobs/reconcile.js";
import { DeployerHarness } from "../testing/harness.js";
import { freePort } from "../testing/ports.js";
import { CaddyEdge } from "./caddy/caddy-edge.js";
import { hostRouteId, portRouteId } from "./caddy/ids.js";
import { caddyEdgeProvider, type EdgeProvider } from "./caddy/provider.js";
import { createDocker } from "./clients.js";
import { startReconcileLoop } from "./local-reconcile.js";
import { LABELS } from "./local-target.js";

/**
 * A local service with `hosts` and no `port` (what a preview is): Caddy serves it on its host names
 * only, on the hosts listener (plain HTTP here, HOIST_CADDY_HOSTS_HTTP), straight to its containers.
 */
const docker: Docker = createDocker();
const images: Record<string, string> = {};

beforeAll(async () => {
  if (!process.env.DOCKER_HOST) throw new Error("DOCKER_HOST is not set: run through vitest's global setup with podman");
  images.v1 = await buildHttpAppImage(docker, builderTag("hostonly", "web", 1), "host-only build 1");
  images.v2 = await buildHttpAppImage(docker, builderTag("hostonly", "web", 2), "host-only build 2");
}, 120_000);
afterAll(async () => {
  for (const tag of Object.values(images))
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {});
});

let h: DeployerHarness | undefined;
let caddy: CaddyProcess | undefined;
let edges: EdgeProvider | undefined;
let app = "";

afterEach(async () => {
  await removeLocalApp(docker, app);
  await h?.close();
  await edges?.close();
  await caddy?.stop();
  if (caddy) removeCaddyDir(caddy.dir);
});

const containersOf = (name: string) => docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${name}`] } });

describe("a local service with hosts and no port (podman, Caddy)", () => {
  it("is served on its host only, straight to its containers; a new release swaps them, and reconcile restores a lost route", async () => {
    caddy = await startCaddy();
    // An earlier deployer made the hosts server with other settings (another port, TLS): this one's settings win.
    const earlier = new CaddyEdge({ adminUrl: caddy.adminUrl, hostsListen: [`127.0.0.1:${await freePort()}`] });
    await earlier.ensureHostRoute({ app: "other", service: "web", hosts: ["other.localhost"], tls: "acme", upstreams: ["127.0.0.1:9"] });
    await earlier.close();
    const hostsPort = await freePort();
    edges = caddyEdgeProvider({ adminUrl: caddy.adminUrl, hostsListen: [`127.0.0.1:${hostsPort}`], hostsHttp: true });
    h = new DeployerHarness();
    app = `hostonly-${process.pid}`;
    const host = `mr-1.${app}.localhost`;
    await h.createApp(app, { kind: "local", services: { web: { hosts: [host], healthPath: "/healthz", healthTimeout: 5 } } });
    h.startWorker({ edges, drainS: 2 });

    const r1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }]);
    expect((await h.deploy(r1.id)).release.status).toBe("live");
    expect(await getViaHost(hostsPort, host)).toBe("200 host-only build 1");
    // Only through its host: another host name on the same listener does not reach it.
    expect(await getViaHost(hostsPort, `mr-2.${app}.localhost`)).toMatch(/^\d{3} (?![\s\S]*host-only)/);
    const edge = await edges.edge();
    const mine = (await edge.snapshot()).filter((r) => r.app === app);
    const [c1] = await containersOf(app);
    // No port route (no listener of its own): the host route proxies to the container's own port.
    expect(mine).toEqual([
      expect.objectContaining({
        kind: "hosts",
        id: hostRouteId({ app, service: "web" }),
        hosts: [host],
        target: [`127.0.0.1:${c1?.Labels[LABELS.port]}`],
        draining: [],
      }),
    ]);
    expect(mine.some((r) => r.id === portRouteId({ app, service: "web" }))).toBe(false);

    const r2 = await h.createRelease(app, [{ service: "web", tag: images.v2! }]);
    expect((await h.deploy(r2.id)).release.status).toBe("live");
    expect(await getViaHost(hostsPort, host)).toBe("200 host-only build 2");
    const left = await containersOf(app);
    expect(left.map((c) => c.Labels[LABELS.release])).toEqual([r2.id]);
    const after = (await edge.snapshot()).filter((r) => r.app === app);
    expect(after).toEqual([
      expect.objectContaining({
        kind: "hosts",
        target: [`127.0.0.1:${left[0]?.Labels[LABELS.port]}`],
        // The switched-out container stays parked (counted by Caddy) until the next swap drops it.
        draining: [`127.0.0.1:${c1?.Labels[LABELS.port]}`],
      }),
    ]);

    // Caddy lost the route (restarted empty, edited by hand): the reconcile puts it back from the records.
    await edge.removeRoute(hostRouteId({ app, service: "web" }));
    expect(await getViaHost(hostsPort, host)).toMatch(/^\d{3} (?![\s\S]*host-only)/);
    const deps = h.deps({ edges });
    const loop = startReconcileLoop(reconcileDeps(deps, deployPorts(deps), h.log), 3600);
    try {
      expect(await loop.round()).toEqual([
        expect.stringMatching(new RegExp(`host route for ${host} \\(acme\\) ensured to 127\\.0\\.0\\.1:\\d+$`)),
        "other: removed stale Caddy route hoist-other.web~hosts (no live release serves it)",
      ]);
      expect(await loop.round()).toEqual([]);
      expect(await getViaHost(hostsPort, host)).toBe("200 host-only build 2");
    } finally {
      await loop.stop();
    }
  }, 90_000);
});
