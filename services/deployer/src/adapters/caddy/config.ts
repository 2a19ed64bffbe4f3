import { z } from "zod";
import { type ServiceRef, tlsPolicyId } from "./ids.js";

/** How Caddy spreads requests over the upstreams of a route and takes dead ones out. */
interface ProxyOptions {
  /** Default round_robin. */
  loadBalancing?: "round_robin" | "least_conn";
  /** Caddy's active health check of every upstream; without it only dial failures are noticed. */
  healthCheck?: { path: string; intervalMs: number; timeoutMs: number };
  /**
   * How long Caddy keeps trying other upstreams when dialing one fails (default 2000). A killed
   * upstream refuses connections before the health check marks it; these retries cover that gap. 0: none.
   */
  tryDurationMs?: number;
  /** How long Caddy waits for a connection to an upstream (default 1500: upstreams are on loopback). */
  dialTimeoutMs?: number;
}

export interface PortRouteSpec extends ServiceRef, ProxyOptions {
  /** The service's port: where Caddy listens. */
  port: number;
  /** Address Caddy binds the port to (default 127.0.0.1). */
  bind?: string;
  /** `host:port` of each container serving the service. */
  upstreams: string[];
}

export interface HostRouteSpec extends ServiceRef, ProxyOptions {
  hosts: string[];
  /** internal: Caddy's own CA (clients must trust its root, see internalCa()); acme: Caddy's automatic HTTPS. */
  tls: "internal" | "acme";
  /** The service's port route the host route forwards to (its port and bind address)... */
  port?: number;
  bind?: string;
  /**
   * ...or, for a service with no port of its own (a preview), the containers themselves: the host
   * route is then the service's only route and proxies to them with the proxy options.
   */
  upstreams?: string[];
  /** With `upstreams`: switched-out containers parked (counted by Caddy) until they drain. */
  draining?: string[];
}

const dial = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]+):(\d{1,5})$/;

export const upstreamSchema = z
  .string()
  .regex(dial, "an upstream is host:port, e.g. 127.0.0.1:30001")
  .refine((u) => Number(u.slice(u.lastIndexOf(":") + 1)) <= 65535, "an upstream's port is at most 65535");

const hostSchema = z
  .string()
  .regex(
    /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
    "a host is a lowercase DNS name such as web.example.com",
  );

export const hostsSchema = z.array(hostSchema).min(1, "a host route needs at least one host");

const ms = (n: number) => `${Math.max(1, Math.round(n))}ms`;

function dialOf(bind: string | undefined, port: number): string {
  const host = !bind || bind === "0.0.0.0" ? "127.0.0.1" : bind === "::" ? "[::1]" : bind;
  return `${host}:${port}`;
}

function listenOf(bind: string | undefined, port: number): string {
  const host = bind ?? "127.0.0.1";
  return `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

/** Whether a port server's `listen` is the service's port (on the default bind address). */
export function sameListen(listen: string[], port: number, bind?: string): boolean {
  return listen.length === 1 && listen[0] === listenOf(bind, port);
}

function proxyHandler(upstreams: string[], opts: ProxyOptions): Record<string, unknown> {
  return {
    handler: "reverse_proxy",
    upstreams: upstreams.map((d) => ({ dial: d })),
    load_balancing: {
      selection_policy: { policy: opts.loadBalancing ?? "round_robin" },
      ...(opts.tryDurationMs === 0
        ? {}
        : {
            try_duration: ms(opts.tryDurationMs ?? 2000),
            try_interval: "100ms",
            // A GET or HEAD whose upstream died after the dial (a container killed mid-answer) is idempotent:
            // Caddy may send it to another upstream within try_duration (RFC 9110 9.2.2). Other methods are not replayed.
            retry_match: [{ method: ["GET", "HEAD"] }],
          }),
    },
    ...(opts.healthCheck
      ? {
          health_checks: {
            active: { path: opts.healthCheck.path, interval: ms(opts.healthCheck.intervalMs), timeout: ms(opts.healthCheck.timeoutMs) },
          },
        }
      : {}),
    // A dead container's published port may swallow the SYN (its DNAT target is gone) instead of refusing:
    // a dial timeout shorter than try_duration turns that into a dial error Caddy retries on another upstream.
    // 1.5 s outlasts one SYN retransmission (1 s), which a busy app with a short accept backlog may need.
    transport: { protocol: "http", dial_timeout: ms(opts.dialTimeoutMs ?? 1500) },
    // The host route forwards to the port route over loopback: its X-Forwarded-Proto (https) must survive.
    trusted_proxies: ["127.0.0.1/32", "::1/128"],
  };
}

/**
 * The route's single handler is a subroute: the first route serves; the second never matches and only
 * holds the upstreams being drained. Caddy counts in-flight requests per upstream only while some
 * handler of the running config names it, so a switched-out upstream stays parked here until it drains.
 */
export function routeHandle(serving: Record<string, unknown>, draining: string[]): Record<string, unknown>[] {
  return [
    {
      handler: "subroute",
      routes: [
        { handle: [serving] },
        ...(draining.length > 0
          ? [{ match: [{ expression: "false" }], handle: [{ handler: "reverse_proxy", upstreams: draining.map((d) => ({ dial: d })) }] }]
          : []),
      ],
    },
  ];
}

export function portServer(id: string, spec: PortRouteSpec, draining: string[]): Record<string, unknown> {
  return {
    listen: [listenOf(spec.bind, spec.port)],
    automatic_https: { disable: true },
    routes: [{ "@id": id, terminal: true, handle: routeHandle(proxyHandler(spec.upstreams, spec), draining) }],
  };
}

export function hostRoute(id: string, spec: HostRouteSpec): Record<string, unknown> {
  return {
    "@id": id,
    match: [{ host: spec.hosts }],
    terminal: true,
    handle: spec.upstreams
      ? routeHandle(proxyHandler(spec.upstreams, spec), spec.draining ?? [])
      : [{ handler: "reverse_proxy", upstreams: [{ dial: dialOf(spec.bind, spec.port ?? 0) }] }],
  };
}

export function internalTlsPolicy(spec: HostRouteSpec): Record<string, unknown> {
  return { "@id": tlsPolicyId(spec), subjects: spec.hosts, issuers: [{ module: "internal" }] };
}
