import { afterAll, beforeAll } from "vitest";
import { type CaddyProcess, removeCaddyDir, startCaddy, startUpstream, type Upstream } from "../../../../test/support/caddy.js";
import { CaddyEdge, type CaddyEdgeOptions } from "../adapters/caddy/caddy-edge.js";

/** One real Caddy and a CaddyEdge on it for a test file; upstreams started through it are closed afterwards. */
export function useCaddyEdge(opts: () => Promise<Omit<CaddyEdgeOptions, "adminUrl">> | Omit<CaddyEdgeOptions, "adminUrl"> = () => ({})) {
  const ctx = {
    caddy: undefined as unknown as CaddyProcess,
    edge: undefined as unknown as CaddyEdge,
    upstreams: [] as Upstream[],
    async upstream(name: string) {
      const u = await startUpstream(name);
      ctx.upstreams.push(u);
      return u;
    },
  };
  beforeAll(async () => {
    ctx.caddy = await startCaddy();
    ctx.edge = new CaddyEdge({ ...(await opts()), adminUrl: ctx.caddy.adminUrl });
  });
  afterAll(async () => {
    await ctx.edge?.close();
    await ctx.caddy?.stop();
    for (const u of ctx.upstreams) await u.close();
    if (ctx.caddy) removeCaddyDir(ctx.caddy.dir);
  });
  return ctx;
}
