import { afterEach, describe, expect, it } from "vitest";
import { DeployerHarness } from "../../testing/harness.js";
import { freePort } from "../../testing/ports.js";
import { caddyEdgeProvider, findCaddy } from "./provider.js";

let h: DeployerHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe("the deployer's Caddy", () => {
  it("a local-target deploy without Caddy fails at once, naming Debian's caddy package and HOIST_CADDY_ADMIN_URL", async () => {
    h = new DeployerHarness();
    const app = `nocaddy-${process.pid}`;
    await h.createApp(app, { kind: "local", services: { web: { port: await freePort() } } });
    h.startWorker({ edges: caddyEdgeProvider({ searchPath: "/nonexistent" }) });
    const release = await h.createRelease(app, [{ service: "web", tag: "localhost/nocaddy:web.1" }]);
    const d = await h.deploy(release.id, { attempts: 3 });
    expect(d.release.status).toBe("failed");
    expect(d.job.attemptsMade).toBe(1);
    expect(d.release.reason).toContain("install Debian's `caddy` package (apt-get install caddy)");
    expect(d.release.reason).toContain("or set HOIST_CADDY_ADMIN_URL");
  });

  it("starts its own Caddy on a loopback admin port when caddy is installed, and stops it on close", async () => {
    expect(findCaddy()).toBeDefined();
    const edges = caddyEdgeProvider({});
    const edge = await edges.edge();
    expect(edge.api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await edges.edge()).toBe(edge);
    expect(await edge.snapshot()).toEqual([]);
    const url = edge.api.url;
    await edges.close();
    await expect(fetch(`${url}/config/`)).rejects.toThrow();
  });
});
