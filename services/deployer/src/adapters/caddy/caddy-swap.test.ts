import { describe, expect, it } from "vitest";
import { loadLoop, type Upstream } from "../../../../../test/support/caddy.js";
import { freePort } from "../../../../../test/support/net.js";
import { useCaddyEdge } from "../../testing/caddy-edge.js";
import type { CaddyEdge } from "./caddy-edge.js";
import { portRouteId } from "./ids.js";

const ctx = useCaddyEdge();
const upstream = (name: string) => ctx.upstream(name);

async function route(service: string, serving: Upstream[], opts: Partial<Parameters<CaddyEdge["ensurePortRoute"]>[0]> = {}) {
  const port = await freePort();
  await ctx.edge.ensurePortRoute({ app: "swap", service, port, upstreams: serving.map((u) => u.address), ...opts });
  return { port, id: portRouteId({ app: "swap", service }) };
}

describe("switching upstreams through Caddy", () => {
  it("loses no request under load (100 req/s, one in ten taking 1 s), and after the switch only the new upstreams answer", async () => {
    const [old1, old2, new1, new2] = [await upstream("old"), await upstream("old"), await upstream("new"), await upstream("new")];
    const { port, id } = await route("load", [old1, old2]);
    const load = loadLoop(`http://127.0.0.1:${port}`, { perSecond: 100, slowEvery: 10, slowMs: 1000 });
    await new Promise((r) => setTimeout(r, 1000));

    const switched = await ctx.edge.setUpstreams(id, [new1.address, new2.address]);
    const after = performance.now();
    const drain = await ctx.edge.drain([old1.address, old2.address], { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 2000));
    const result = await load.stop();

    expect(result.failed).toEqual([]);
    expect(switched.previous).toEqual([old1.address, old2.address]);
    expect(drain.drained).toBe(true);
    expect(result.answers).toHaveLength(result.total);
    const late = result.answers.filter((a) => a.start > after);
    expect(late.length).toBeGreaterThan(150);
    expect(late.filter((a) => a.body !== "new")).toEqual([]);
    // The slow requests the old upstreams had when the switch came finished there, with 200.
    expect(result.answers.some((a) => a.body === "old" && a.path.startsWith("/slow") && a.end > after)).toBe(true);
    console.info(
      `caddy swap under load: ${result.total} requests, 0 failed, ${result.retried} connection resets retried once; switch ${switched.ms.toFixed(0)} ms; drain ${drain.ms.toFixed(0)} ms`,
    );

    await ctx.edge.forgetDrained(id);
    expect((await ctx.edge.snapshot()).find((r) => r.id === id)).toMatchObject({ upstreams: [new1.address, new2.address], draining: [] });
  });

  it("drain waits for a slow request still in flight on the switched-out upstream, then returns", async () => {
    const [a, b] = [await upstream("a"), await upstream("b")];
    const { port, id } = await route("drain", [a]);
    const arrived = a.nextRequest();
    const slow = fetch(`http://127.0.0.1:${port}/slow?ms=1500`).then(async (r) => ({ body: await r.text(), at: performance.now() }));
    await arrived;

    await ctx.edge.setUpstreams(id, [b.address]);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("b");
    expect(Object.fromEntries(await ctx.edge.inFlight([a.address]))).toEqual({ [a.address]: { requests: 1, fails: 0 } });
    const drain = await ctx.edge.drain([a.address], { timeoutMs: 10_000 });

    expect(drain).toMatchObject({ drained: true, inFlight: {} });
    expect(drain.ms).toBeGreaterThan(1000);
    expect(a.active).toBe(0);
    expect((await slow).body).toBe("a");
  });

  it("drain is bounded: with a request that outlasts the bound it returns at the bound and says what is still in flight", async () => {
    const [a, b] = [await upstream("a"), await upstream("b")];
    const { port, id } = await route("bound", [a]);
    const arrived = a.nextRequest();
    const slow = fetch(`http://127.0.0.1:${port}/slow?ms=4000`).then((r) => r.text());
    await arrived;
    await ctx.edge.setUpstreams(id, [b.address]);

    const drain = await ctx.edge.drain([a.address], { timeoutMs: 300 });
    expect(drain).toMatchObject({ drained: false, inFlight: { [a.address]: 1 } });
    expect(drain.ms).toBeGreaterThanOrEqual(300);
    expect(drain.ms).toBeLessThan(1500);
    expect(await slow).toBe("a");
  });

  it("refuses to drain upstreams Caddy no longer counts, instead of reporting them idle", async () => {
    const [a, b] = [await upstream("a"), await upstream("b")];
    const { id } = await route("forgotten", [a]);
    await ctx.edge.setUpstreams(id, [b.address]);
    await ctx.edge.forgetDrained(id);
    await expect(ctx.edge.drain([a.address], { timeoutMs: 1000 })).rejects.toThrow(
      /cannot drain 127\.0\.0\.1:\d+: no handler of Caddy's running config names it/,
    );
  });

  it("Caddy's active health check takes an unhealthy upstream out of the rotation, and back in when it recovers", async () => {
    const [a, b] = [await upstream("a"), await upstream("b")];
    const { port } = await route("health", [a, b], { healthCheck: { path: "/health", intervalMs: 200, timeoutMs: 500 }, tryDurationMs: 0 });
    const served = async (n: number) => {
      const bodies: string[] = [];
      for (let i = 0; i < n; i++) bodies.push(await (await fetch(`http://127.0.0.1:${port}/`)).text());
      return bodies;
    };
    expect(new Set(await served(4))).toEqual(new Set(["a", "b"]));

    b.healthy = false;
    const deadline = Date.now() + 5000;
    while ((await served(4)).includes("b")) expect(Date.now()).toBeLessThan(deadline);
    expect(new Set(await served(20))).toEqual(new Set(["a"]));

    b.healthy = true;
    while (!(await served(4)).includes("b")) expect(Date.now()).toBeLessThan(deadline + 5000);
  });

  it("a killed upstream loses no request: Caddy retries the refused dial on the other one", async () => {
    const [a, b] = [await upstream("a"), await upstream("b")];
    const { port } = await route("kill", [a, b]);
    await b.close();
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await fetch(`http://127.0.0.1:${port}/`)).status);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(a.served).toBe(20);
  });

  it("measures one switch (the admin call) and the drain's own cost", async () => {
    const [a, b] = [await upstream("a"), await upstream("b")];
    const { id } = await route("measure", [a]);
    const switches: number[] = [];
    const drains: number[] = [];
    for (let i = 0; i < 10; i++) {
      const next = i % 2 === 0 ? b : a;
      const prev = i % 2 === 0 ? a : b;
      switches.push((await ctx.edge.setUpstreams(id, [next.address])).ms);
      drains.push((await ctx.edge.drain([prev.address], { timeoutMs: 1000 })).ms);
      await ctx.edge.forgetDrained(id);
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
    console.info(
      `caddy switch: median ${median(switches).toFixed(1)} ms, max ${Math.max(...switches).toFixed(1)} ms; drain of idle upstreams: median ${median(drains).toFixed(1)} ms`,
    );
    expect(median(switches)).toBeLessThan(1000);
  });
});
