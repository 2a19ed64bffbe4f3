import { readdirSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { type AddressInfo, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { removeCaddyDir, startCaddy } from "../../../../../test/support/caddy.js";
import { freePort } from "../../../../../test/support/net.js";
import { useCaddyEdge } from "../../testing/caddy-edge.js";
import { CaddyEdge } from "./caddy-edge.js";
import { hostRouteId, portRouteId } from "./ids.js";

let hostsPort: number;
const ctx = useCaddyEdge(async () => {
  hostsPort = await freePort();
  return { hostsListen: [`127.0.0.1:${hostsPort}`] };
});
const upstream = (name: string) => ctx.upstream(name);

async function get(port: number, path = "/"): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

function httpsGet(port: number, servername: string, ca: string): Promise<{ status: number; body: string; proto: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, servername, ca, path: "/", headers: { host: servername }, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, proto: String(res.headers["x-forwarded-proto-seen"]) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("CaddyEdge against a real Caddy", () => {
  it("creates a port route that Caddy serves, tagged with Hoist's id, and spreads requests round-robin over three upstreams", async () => {
    const [a, b, c] = [await upstream("a"), await upstream("b"), await upstream("c")];
    const port = await freePort();
    await ctx.edge.ensurePortRoute({ app: "shop", service: "web", port, upstreams: [a.address, b.address, c.address] });

    const bodies: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await get(port);
      expect(res.status).toBe(200);
      bodies.push(res.body);
    }
    expect({ a: a.served, b: b.served, c: c.served }).toEqual({ a: 10, b: 10, c: 10 });
    expect(new Set(bodies.slice(0, 3))).toEqual(new Set(["a", "b", "c"]));

    const routes = await ctx.edge.snapshot();
    expect(routes).toContainEqual(
      expect.objectContaining({
        kind: "port",
        id: portRouteId({ app: "shop", service: "web" }),
        app: "shop",
        service: "web",
        listen: [`127.0.0.1:${port}`],
        upstreams: [a.address, b.address, c.address],
        draining: [],
        loadBalancing: "round_robin",
      }),
    );
    // ensure is idempotent: a second call changes nothing that serves.
    await ctx.edge.ensurePortRoute({ app: "shop", service: "web", port, upstreams: [a.address, b.address, c.address] });
    expect((await ctx.edge.snapshot()).filter((r) => r.app === "shop")).toHaveLength(1);
  });

  it("least_conn sends the next request past an upstream busy with a slow one", async () => {
    const [a, b] = [await upstream("a"), await upstream("b")];
    const port = await freePort();
    await ctx.edge.ensurePortRoute({ app: "shop", service: "lc", port, upstreams: [a.address, b.address], loadBalancing: "least_conn" });
    const busy = a.nextRequest();
    const busyB = b.nextRequest();
    const slow = get(port, "/slow?ms=1500");
    const first = await Promise.race([busy.then(() => a), busyB.then(() => b)]);
    const other = first === a ? "b" : "a";
    for (let i = 0; i < 5; i++) expect((await get(port)).body).toBe(other);
    expect((await slow).body).toBe(first.name);
  });

  it("serves a host route over https with Caddy's internal CA, forwarding to the service's port route", async () => {
    const a = await upstream("hosted");
    const port = await freePort();
    const ref = { app: "blog", service: "web" };
    await ctx.edge.ensurePortRoute({ ...ref, port, upstreams: [a.address] });
    await ctx.edge.ensureHostRoute({ ...ref, port, hosts: ["blog.example.test", "www.blog.example.test"], tls: "internal" });

    const { rootPem } = await ctx.edge.internalCa();
    const res = await httpsGet(hostsPort, "blog.example.test", rootPem);
    expect(res).toEqual({ status: 200, body: "hosted", proto: "https" });
    expect((await httpsGet(hostsPort, "www.blog.example.test", rootPem)).body).toBe("hosted");
    // Not trusted without Caddy's root: the certificate really comes from the internal CA.
    await expect(httpsGet(hostsPort, "blog.example.test", "")).rejects.toThrow(/certificate/);
    // ...and Caddy did not install that root into this machine's trust store (its default, as root).
    const store = "/usr/local/share/ca-certificates";
    const installed = readdirSync(store).filter((f) => readFileSync(`${store}/${f}`, "utf8").trim() === rootPem.trim());
    expect(installed).toEqual([]);

    expect(await ctx.edge.snapshot()).toContainEqual({
      kind: "hosts",
      id: hostRouteId(ref),
      ...ref,
      hosts: ["blog.example.test", "www.blog.example.test"],
      tls: "internal",
      target: [`127.0.0.1:${port}`],
      draining: [],
    });
  });

  it("refuses a host another service already has, and bad upstreams or hosts, saying what to do", async () => {
    const port = await freePort();
    await expect(
      ctx.edge.ensureHostRoute({ app: "other", service: "web", port, hosts: ["blog.example.test"], tls: "internal" }),
    ).rejects.toThrow(/blog\.example\.test is already routed to blog\/web: remove it there first/);
    await expect(ctx.edge.ensurePortRoute({ app: "x", service: "web", port, upstreams: ["not an address"] })).rejects.toThrow(
      /an upstream is host:port/,
    );
    await expect(ctx.edge.setUpstreams(portRouteId({ app: "shop", service: "web" }), [])).rejects.toThrow(/at least one upstream/);
    await expect(ctx.edge.setUpstreams(portRouteId({ app: "nope", service: "web" }), ["127.0.0.1:1"])).rejects.toThrow(
      /Caddy has no route hoist-nope\.web .*ensure it with ensurePortRoute/,
    );
    await expect(ctx.edge.ensureHostRoute({ app: "x", service: "web", port, hosts: ["Bad_Host"], tls: "acme" })).rejects.toThrow(
      /lowercase DNS name/,
    );
  });

  it("says that deployers on one host share one Caddy when the service's port is held by another process", async () => {
    const held = createServer();
    await new Promise<void>((r) => held.listen(0, "127.0.0.1", () => r()));
    const port = (held.address() as AddressInfo).port;
    try {
      await expect(ctx.edge.ensurePortRoute({ app: "taken", service: "web", port, upstreams: ["127.0.0.1:1"] })).rejects.toThrow(
        /address already in use.*set HOIST_CADDY_ADMIN_URL for all of them/,
      );
    } finally {
      held.close();
    }
  });

  it("removes routes: the port stops answering and the snapshot no longer lists them", async () => {
    const a = await upstream("gone");
    const port = await freePort();
    const ref = { app: "tmp", service: "web" };
    await ctx.edge.ensurePortRoute({ ...ref, port, upstreams: [a.address] });
    await ctx.edge.ensureHostRoute({ ...ref, port, hosts: ["tmp.example.test"], tls: "internal" });
    expect((await get(port)).body).toBe("gone");

    await ctx.edge.removeRoute(hostRouteId(ref));
    await ctx.edge.removeRoute(portRouteId(ref));
    await ctx.edge.removeRoute(portRouteId(ref)); // again: already gone is fine
    await expect(get(port)).rejects.toThrow();
    expect((await ctx.edge.snapshot()).filter((r) => r.app === "tmp")).toEqual([]);
    expect((await ctx.edge.snapshot()).some((r) => r.app === "blog")).toBe(true);
  });
});

describe("a Caddy restarted empty", () => {
  it("shows no Hoist routes in the snapshot (what a reconcile detects), and ensure brings the route back", async () => {
    const own = await startCaddy();
    const own2Edge = new CaddyEdge({ adminUrl: own.adminUrl });
    try {
      const a = await upstream("again");
      const port = await freePort();
      await own2Edge.ensurePortRoute({ app: "crash", service: "web", port, upstreams: [a.address] });
      expect((await own2Edge.snapshot()).map((r) => r.id)).toEqual([portRouteId({ app: "crash", service: "web" })]);

      await own.kill();
      const restarted = await startCaddy({ dir: own.dir });
      const edge2 = new CaddyEdge({ adminUrl: restarted.adminUrl });
      try {
        expect(await edge2.snapshot()).toEqual([]);
        await expect(get(port)).rejects.toThrow();
        await edge2.ensurePortRoute({ app: "crash", service: "web", port, upstreams: [a.address] });
        expect((await get(port)).body).toBe("again");
      } finally {
        await edge2.close();
        await restarted.stop();
      }
    } finally {
      await own2Edge.close();
      await own.stop();
      removeCaddyDir(own.dir);
    }
  });
});
