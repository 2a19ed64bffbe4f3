import type { Logger } from "@hoist/shared";
import { z } from "zod";
import { CaddyAdminApi, CaddyAdminError, configHash } from "./admin-api.js";
import {
  type HostRouteSpec,
  hostRoute,
  hostsSchema,
  internalTlsPolicy,
  type PortRouteSpec,
  portServer,
  routeHandle,
  upstreamSchema,
} from "./config.js";
import { HOSTS_SERVER, hostRouteId, parseRouteId, portRouteId, type ServiceRef, tlsPolicyId } from "./ids.js";
import {
  caSchema,
  dials,
  hostRouteSchema,
  type PortRouteConfig,
  policiesSchema,
  portRouteSchema,
  serversSchema,
  upstreamStatusSchema,
} from "./schemas.js";

/**
 * A Hoist id as a segment of an admin API path: escaped, except '@' (another environment's deploy
 * unit, `hoist-web@staging.web`), which a path segment may hold as it is. Caddy resolves `/id/<id>`
 * to the config path with the segment as sent: `%40` would name a server key that does not exist.
 */
function idSegment(id: string): string {
  return encodeURIComponent(id).replace(/%40/g, "@");
}

export type HoistRoute =
  | (ServiceRef & {
      kind: "port";
      id: string;
      listen: string[];
      upstreams: string[];
      /** Switched-out upstreams still parked until they drain. */
      draining: string[];
      loadBalancing: string;
      healthCheck?: { path?: string; interval?: string; timeout?: string };
    })
  | (ServiceRef & {
      kind: "hosts";
      id: string;
      hosts: string[];
      tls: "internal" | "acme";
      /** The port route's address, or (a service with no port) the containers serving it. */
      target: string[];
      /** A service with no port: its switched-out containers still parked until they drain. */
      draining: string[];
    });

interface DrainResult {
  drained: boolean;
  ms: number;
  /** Requests still in flight per upstream when the bound ran out (empty when drained). */
  inFlight: Record<string, number>;
}

export interface CaddyEdgeOptions {
  adminUrl: string;
  /** Where host routes are served (default [":443"]). */
  hostsListen?: string[];
  /** Serve host routes as plain HTTP (no TLS at all; default false): HOIST_CADDY_HOSTS_HTTP. */
  hostsHttp?: boolean;
  logger?: Logger;
}

const upstreamsSchema = z
  .array(upstreamSchema)
  .min(1, "a route needs at least one upstream; to take a service off Caddy, remove its route");
const portSpecSchema = z.object({
  port: z.number().int().min(1).max(65535),
  upstreams: upstreamsSchema,
  bind: z.string().min(1).optional(),
});
const CONFLICT_RETRIES = 5;

function invalid(what: string, err: z.ZodError): CaddyAdminError {
  return new CaddyAdminError(`${what}: ${z.prettifyError(err)}`, undefined, false);
}

function routePath(id: string): string {
  return `/config/apps/http/servers/${idSegment(id)}/routes/0`;
}

/**
 * Hoist's side of Caddy as the local target's edge: one server per app service listening on the
 * service's port, host-matched routes in a shared server, all driven through Caddy's admin API. Only
 * objects with Hoist's ids (ids.ts) are touched; every change that depends on what was read is sent
 * with If-Match, so a concurrent writer makes it re-read instead of overwriting.
 */
export class CaddyEdge {
  readonly api: CaddyAdminApi;
  private readonly hostsListen: string[];

  constructor(private readonly opts: CaddyEdgeOptions) {
    this.api = new CaddyAdminApi(opts.adminUrl);
    this.hostsListen = opts.hostsListen ?? [":443"];
  }

  /** Creates or updates the service's server and route; upstreams still draining stay parked. */
  async ensurePortRoute(spec: PortRouteSpec): Promise<void> {
    const checked = portSpecSchema.safeParse(spec);
    if (!checked.success) throw invalid(`port route for ${spec.app}/${spec.service}`, checked.error);
    const id = portRouteId(spec);
    const serverPath = `/config/apps/http/servers/${idSegment(id)}`;
    await this.ensurePath(["apps", "http", "servers"], {});
    await this.retryOnConflict(async () => {
      const text = await this.api.getText(serverPath);
      const current = JSON.parse(text) === null ? undefined : await this.readPortRoute(id).catch(() => undefined);
      const draining = current ? current.draining.filter((u) => !spec.upstreams.includes(u)) : [];
      await this.api.change("POST", serverPath, portServer(id, spec, draining), [serverPath, configHash(text)]);
    });
    this.opts.logger?.info({ route: id, port: spec.port, upstreams: spec.upstreams }, "caddy: port route ensured");
  }

  /**
   * Points the route at `upstreams` in one config change: new requests go only to them, requests in
   * flight on the previous ones finish there, and those stay parked (counted by inFlight) until
   * forgetDrained. At no moment is the set empty.
   */
  async setUpstreams(
    id: string,
    upstreams: string[],
    opts: {
      /**
       * Drop the upstreams parked by earlier switches in this same change (instead of a forgetDrained
       * change after the drain): one config change per swap. Only for callers that drained those already.
       */
      forgetParked?: boolean;
    } = {},
  ): Promise<{ previous: string[]; draining: string[]; ms: number }> {
    const checked = upstreamsSchema.safeParse(upstreams);
    if (!checked.success) throw invalid(`upstreams of ${id}`, checked.error);
    const next = [...new Set(checked.data)];
    const t0 = performance.now();
    const out = await this.retryOnConflict(async () => {
      const { route, text } = await this.readPortRouteText(id);
      const serving = route.handle[0].routes[0]?.handle[0] as PortRouteConfig["handle"][0]["routes"][0]["handle"][0];
      const previous = dials(serving.upstreams);
      const parked = dials(route.handle[0].routes[1]?.handle[0].upstreams ?? []);
      const draining = [...new Set([...previous, ...(opts.forgetParked ? [] : parked)])].filter((u) => !next.includes(u));
      await this.api.change(
        "PATCH",
        `/id/${idSegment(id)}/handle`,
        routeHandle({ ...serving, upstreams: next.map((d) => ({ dial: d })) }, draining),
        [routePath(id), configHash(text)],
      );
      return { previous, draining };
    });
    const ms = performance.now() - t0;
    this.opts.logger?.info({ route: id, upstreams: next, draining: out.draining, ms: Math.round(ms) }, "caddy: upstreams switched");
    return { ...out, ms };
  }

  /** Drops the parked (switched-out) upstreams of a route: call after drain(). */
  async forgetDrained(id: string): Promise<void> {
    await this.retryOnConflict(async () => {
      const { route, text } = await this.readPortRouteText(id);
      if (route.handle[0].routes.length < 2) return;
      await this.api.change("PATCH", `/id/${idSegment(id)}/handle`, routeHandle(route.handle[0].routes[0]?.handle[0] ?? {}, []), [
        routePath(id),
        configHash(text),
      ]);
    });
  }

  /** Requests in flight and failures per upstream; an upstream no running handler names is absent. */
  async inFlight(upstreams: string[]): Promise<Map<string, { requests: number; fails: number }>> {
    const status = await this.api.get("/reverse_proxy/upstreams", upstreamStatusSchema);
    const out = new Map<string, { requests: number; fails: number }>();
    for (const s of status) if (upstreams.includes(s.address)) out.set(s.address, { requests: s.num_requests, fails: s.fails });
    return out;
  }

  /** Waits until none of `upstreams` has a request in flight, at most timeoutMs (HOIST_LOCAL_DRAIN_S). */
  async drain(upstreams: string[], opts: { timeoutMs: number; pollMs?: number }): Promise<DrainResult> {
    const t0 = performance.now();
    for (;;) {
      const counts = await this.inFlight(upstreams);
      const unknown = upstreams.filter((u) => !counts.has(u));
      if (unknown.length > 0)
        throw new CaddyAdminError(
          `cannot drain ${unknown.join(", ")}: no handler of Caddy's running config names ${unknown.length > 1 ? "them" : "it"}, so Caddy no longer counts ${unknown.length > 1 ? "their" : "its"} requests. Switch with setUpstreams (which parks the previous upstreams) and drain before forgetDrained; after a Caddy restart there is nothing left to drain.`,
          undefined,
          false,
        );
      const busy = Object.fromEntries([...counts].filter(([, c]) => c.requests > 0).map(([u, c]) => [u, c.requests]));
      const ms = performance.now() - t0;
      if (Object.keys(busy).length === 0) return { drained: true, ms, inFlight: {} };
      if (ms >= opts.timeoutMs) {
        this.opts.logger?.warn({ inFlight: busy, ms: Math.round(ms) }, "caddy: drain bound reached with requests in flight");
        return { drained: false, ms, inFlight: busy };
      }
      await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 50, Math.max(1, opts.timeoutMs - ms))));
    }
  }

  /** A host-matched route in the shared hosts server, forwarding to the service's port route. */
  async ensureHostRoute(spec: HostRouteSpec): Promise<void> {
    const hosts = hostsSchema.safeParse(spec.hosts);
    if (!hosts.success) throw invalid(`hosts of ${spec.app}/${spec.service}`, hosts.error);
    if ((spec.port === undefined) === (spec.upstreams === undefined))
      throw new CaddyAdminError(
        `host route for ${spec.app}/${spec.service}: give either the service's port (forward to its port route) or its upstreams (a service with no port), not ${spec.port === undefined ? "neither" : "both"}`,
        undefined,
        false,
      );
    if (spec.upstreams) {
      const upstreams = upstreamsSchema.safeParse(spec.upstreams);
      if (!upstreams.success) throw invalid(`upstreams of ${spec.app}/${spec.service}`, upstreams.error);
    }
    const id = hostRouteId(spec);
    const taken = (await this.snapshot()).find((r) => r.kind === "hosts" && r.id !== id && r.hosts.some((h) => spec.hosts.includes(h)));
    if (taken?.kind === "hosts")
      throw new CaddyAdminError(
        `host ${taken.hosts.filter((h) => spec.hosts.includes(h)).join(", ")} is already routed to ${taken.app}/${taken.service}: remove it there first`,
        undefined,
        false,
      );
    // The issuer comes before the route: a route without its policy would make Caddy try ACME for the host.
    if (spec.tls === "internal") {
      await this.keepTrustStoreAlone();
      await this.ensurePath(["apps", "tls", "automation", "policies"], []);
      await this.upsertById(tlsPolicyId(spec), "/config/apps/tls/automation/policies", internalTlsPolicy(spec));
    } else {
      await this.deleteById(tlsPolicyId(spec));
    }
    const serverPath = `/config/apps/http/servers/${HOSTS_SERVER}`;
    await this.ensurePath(["apps", "http", "servers"], {});
    await this.retryOnConflict(async () => {
      const text = await this.api.getText(serverPath);
      // Redirects would need :80; ACME in production uses TLS-ALPN on the hosts port.
      const automatic_https = this.opts.hostsHttp ? { disable: true } : { disable_redirects: true };
      const current = z
        .object({ listen: z.array(z.string()).optional(), automatic_https: z.record(z.string(), z.unknown()).optional() })
        .loose()
        .nullable()
        .parse(JSON.parse(text));
      if (current) {
        // Made by an earlier deployer with other settings (HOIST_CADDY_HOSTS_LISTEN, _HTTP): this one's win, routes kept.
        const same =
          JSON.stringify(current.listen ?? []) === JSON.stringify(this.hostsListen) &&
          JSON.stringify(current.automatic_https ?? {}) === JSON.stringify(automatic_https);
        if (!same)
          await this.api.change("PATCH", serverPath, { ...current, listen: this.hostsListen, automatic_https }, [
            serverPath,
            configHash(text),
          ]);
        return;
      }
      await this.api.change("PUT", serverPath, { listen: this.hostsListen, automatic_https, routes: [] }, [serverPath, configHash(text)]);
    });
    await this.upsertById(id, `${serverPath}/routes`, hostRoute(id, spec));
    this.opts.logger?.info({ route: id, hosts: spec.hosts, tls: spec.tls, upstreams: spec.upstreams }, "caddy: host route ensured");
  }

  /** Removes a route: a port route with its server (and listener), a host route with its TLS policy. Missing is fine. */
  async removeRoute(id: string): Promise<void> {
    const parsed = parseRouteId(id);
    if (!parsed) throw new CaddyAdminError(`${id} is not a Hoist route id (hoist-<app>.<service>[~hosts])`, undefined, false);
    if (parsed.kind === "port") {
      const path = `/config/apps/http/servers/${idSegment(id)}`;
      const text = await this.api.getText(path).catch(() => "null\n");
      if (JSON.parse(text) !== null) await this.api.change("DELETE", path);
    } else {
      await this.deleteById(id);
      await this.deleteById(tlsPolicyId(parsed));
    }
    this.opts.logger?.info({ route: id }, "caddy: route removed");
  }

  /** Every route Hoist owns in the running config, for a reconcile to compare with the records. */
  async snapshot(): Promise<HoistRoute[]> {
    const servers = await this.getOrNull("/config/apps/http/servers", serversSchema);
    const policies = (await this.getOrNull("/config/apps/tls/automation/policies", policiesSchema)) ?? [];
    const internal = new Set(policies.map((p) => p["@id"]).filter((p) => p !== undefined));
    const out: HoistRoute[] = [];
    for (const [name, server] of Object.entries(servers ?? {})) {
      for (const raw of server.routes) {
        const id = raw["@id"];
        const ref = typeof id === "string" ? parseRouteId(id) : undefined;
        if (!ref || typeof id !== "string") continue;
        if (ref.kind === "port" && name === id) {
          const route = portRouteSchema.parse(raw);
          const serving = route.handle[0].routes[0]?.handle[0];
          out.push({
            kind: "port",
            id,
            app: ref.app,
            service: ref.service,
            listen: server.listen,
            upstreams: dials(serving?.upstreams ?? []),
            draining: dials(route.handle[0].routes[1]?.handle[0].upstreams ?? []),
            loadBalancing: serving?.load_balancing?.selection_policy?.policy ?? "random",
            ...(serving?.health_checks?.active ? { healthCheck: serving.health_checks.active } : {}),
          });
        } else if (ref.kind === "hosts" && name === HOSTS_SERVER) {
          const route = hostRouteSchema.parse(raw);
          const handler = route.handle[0];
          const direct = handler.handler === "subroute";
          out.push({
            kind: "hosts",
            id,
            app: ref.app,
            service: ref.service,
            hosts: route.match[0].host,
            tls: internal.has(tlsPolicyId(ref)) ? "internal" : "acme",
            target: direct ? dials(handler.routes[0]?.handle[0].upstreams ?? []) : dials(handler.upstreams),
            draining: direct ? dials(handler.routes[1]?.handle[0].upstreams ?? []) : [],
          });
        }
      }
    }
    return out;
  }

  /** Root and intermediate of Caddy's internal CA (`tls: "internal"`), PEM, for clients to trust. */
  async internalCa(): Promise<{ rootPem: string; intermediatePem: string }> {
    // Reading the CA creates it when none is configured, and a new CA installs its root by default.
    await this.keepTrustStoreAlone();
    const ca = await this.api.get("/pki/ca/local", caSchema);
    return { rootPem: ca.root_certificate, intermediatePem: ca.intermediate_certificate };
  }

  async close(): Promise<void> {
    await this.api.close();
  }

  private async readPortRoute(id: string) {
    const { route } = await this.readPortRouteText(id);
    return { route, draining: dials(route.handle[0].routes[1]?.handle[0].upstreams ?? []) };
  }

  private async readPortRouteText(id: string): Promise<{ route: PortRouteConfig; text: string }> {
    const text = await this.api.getText(routePath(id)).catch((err: unknown) => {
      if (err instanceof CaddyAdminError && err.status === 400) return "null\n";
      throw err;
    });
    const value: unknown = JSON.parse(text);
    if (value === null)
      throw new CaddyAdminError(
        `Caddy has no route ${id} (restarted empty, or removed): ensure it with ensurePortRoute before switching upstreams`,
        404,
        false,
      );
    const route = portRouteSchema.safeParse(value);
    if (!route.success || route.data["@id"] !== id)
      throw new CaddyAdminError(
        `Caddy's server ${id} does not hold the route Hoist wrote (${route.success ? `found ${route.data["@id"]}` : z.prettifyError(route.error)}): someone edited it by hand; ensurePortRoute rewrites it`,
        undefined,
        false,
      );
    return { route: route.data, text };
  }

  /**
   * Caddy's local CA installs its root into the host's trust store by default (as root it rewrites
   * /usr/local/share/ca-certificates and runs update-ca-certificates, blocking the config change for
   * as long): Hoist never wants that, so install_trust is false before the CA can come to exist.
   */
  private async keepTrustStoreAlone(): Promise<void> {
    await this.ensurePath(["apps", "pki", "certificate_authorities", "local"], { install_trust: false });
    const path = "/config/apps/pki/certificate_authorities/local/install_trust";
    if ((await this.api.getText(path)).trim() !== "false") await this.api.change("POST", path, false);
  }

  private async getOrNull<T>(path: string, schema: z.ZodType<T>): Promise<T | null> {
    try {
      return await this.api.get(path, schema);
    } catch (err) {
      if (err instanceof CaddyAdminError && err.status === 400) return null; // a parent of path is missing
      throw err;
    }
  }

  /** Creates the objects along `segments` that are missing, the last one as `leaf`. */
  private async ensurePath(segments: string[], leaf: unknown): Promise<void> {
    for (let i = 1; i <= segments.length; i++) {
      const path = `/config/${segments.slice(0, i).join("/")}`;
      if ((await this.api.getText(path)).trim() !== "null") continue;
      const value = segments.slice(i).reduceRight<unknown>((inner, key) => ({ [key]: inner }), leaf);
      try {
        await this.api.change("PUT", path, value);
      } catch (err) {
        // Created meanwhile by another writer: that is what we wanted.
        if (!(err instanceof CaddyAdminError && /already exists/.test(err.message))) throw err;
      }
      return;
    }
  }

  /** PATCH the object tagged `id`, or append it to the array at `arrayPath` when it does not exist. */
  private async upsertById(id: string, arrayPath: string, value: unknown): Promise<void> {
    await this.retryOnConflict(async () => {
      const text = await this.api.getText(arrayPath);
      const items = z.array(z.object({ "@id": z.string().optional() }).loose()).parse(JSON.parse(text));
      const index = items.findIndex((i) => i["@id"] === id);
      if (index >= 0) await this.api.change("PATCH", `${arrayPath}/${index}`, value, [arrayPath, configHash(text)]);
      else await this.api.change("POST", arrayPath, value, [arrayPath, configHash(text)]);
    });
  }

  private async deleteById(id: string): Promise<void> {
    try {
      await this.api.change("DELETE", `/id/${idSegment(id)}`);
    } catch (err) {
      if (!(err instanceof CaddyAdminError && err.status === 404)) throw err;
    }
  }

  /**
   * Runs a read-then-change again when another writer got in between (412), or when the answer was lost:
   * Caddy replaces its admin server on every config change and may drop the connection of a change it
   * applied. Repeating is safe because each change carries If-Match of what it read.
   */
  private async retryOnConflict<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const conflict = err instanceof CaddyAdminError && err.status === 412;
        const noAnswer = err instanceof CaddyAdminError && err.status === undefined && err.retryable;
        if (!(conflict || noAnswer) || attempt >= CONFLICT_RETRIES) throw err;
        this.opts.logger?.info({ attempt, err: (err as Error).message }, "caddy: reading the config again and retrying the change");
        if (noAnswer) await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }
}

export type { HostRouteSpec, PortRouteSpec };
