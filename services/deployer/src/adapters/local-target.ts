import { type App, type Image, type RegistryAuth, type Release, registryHost } from "@hoist/shared";
import type Docker from "dockerode";
import { demuxDockerLogs, lastLines, waitForHttp2xx } from "../domain/health.js";
import { type DeployInput, type DeployOutcome, type DeployTarget, PermanentDeployError } from "../domain/target.js";
import { CaddyAdminError } from "./caddy/admin-api.js";
import type { CaddyEdge, HoistRoute, HostRouteSpec } from "./caddy/caddy-edge.js";
import { type PortRouteSpec, sameListen } from "./caddy/config.js";
import { hostRouteId, portRouteId } from "./caddy/ids.js";
import type { EdgeProvider } from "./caddy/provider.js";
import { freePort } from "./free-port.js";

export const LABELS = {
  app: "hoist.app",
  service: "hoist.service",
  release: "hoist.release",
  number: "hoist.release.number",
  /** The container's own loopback port (its PORT), Caddy's upstream. */
  port: "hoist.port",
} as const;

/** Defaults of the per-service limits (`target.services.<name>.memoryMb`, `cpus`, `pids`). */
export const LIMITS = { memoryMb: 512, cpus: 1, pids: 512 } as const;
/** nobody:nogroup, for images whose user is root. */
const DEFAULT_USER = "65534:65534";

/**
 * The bridge network of a deploy unit's containers (an app's production: `hoist-app-<app>`; another
 * environment: `hoist-app-<app>_<env>`, '_' being in no app name and '@' in no network name).
 */
export function appNetworkName(unit: string): string {
  return `hoist-app-${unit.replace("@", "_")}`;
}

type LocalTargetConfig = Extract<App["target"], { kind: "local" }>;
type ServiceConfig = LocalTargetConfig["services"][string];

interface Planned {
  image: Image;
  config: ServiceConfig;
  replicas: number;
  timeoutMs: number;
}

interface Started {
  id: string;
  p: Planned;
  /** The container's own port on 127.0.0.1 (its PORT): Caddy's upstream. */
  hostPort: number;
}

const PERMANENT_PULL = /manifest unknown|not found|name unknown|unauthorized|denied|invalid reference/i;

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** Caddy's upstream address of a container on its own loopback port. */
export function upstreamOf(hostPort: number): string {
  return `127.0.0.1:${hostPort}`;
}

/** Containers per service: the app's `scale` (PATCH /v1/apps/:app/scale), else the service's `replicas`, else 1. */
export function replicasOf(app: App, service: string): number {
  const config = app.target.kind === "local" ? app.target.services[service] : undefined;
  return app.scale?.[service] ?? config?.replicas ?? 1;
}

/** How Caddy checks and spreads a service's upstreams (the same on deploy and reconcile). */
function proxyOptions(config: ServiceConfig): Pick<PortRouteSpec, "loadBalancing" | "healthCheck" | "tryDurationMs"> {
  return {
    loadBalancing: "round_robin",
    healthCheck: { path: config.healthPath ?? "/", intervalMs: 1000, timeoutMs: 1000 },
    // Long enough for one retry after a dial that timed out (a killed container's port): see config.ts.
    tryDurationMs: 4000,
  };
}

export function portRouteSpec(app: string, service: string, config: ServiceConfig & { port: number }, upstreams: string[]): PortRouteSpec {
  return { app, service, port: config.port, upstreams, ...proxyOptions(config) };
}

/**
 * The host route of a service: forwarding to its port route, or (a service with no port, such as a
 * preview's) straight to its containers; undefined when the service has no hosts.
 */
export function hostRouteSpec(
  app: string,
  service: string,
  config: ServiceConfig,
  upstreams: string[],
  draining: string[] = [],
): HostRouteSpec | undefined {
  if (!config.hosts) return undefined;
  const base = { app, service, hosts: config.hosts, tls: config.tls ?? "acme" } as const;
  return config.port === undefined ? { ...base, upstreams, draining, ...proxyOptions(config) } : { ...base, port: config.port };
}

interface LocalTargetOptions {
  stopTimeoutS: number;
  /** Caddy, the edge every service's port is served by. */
  edges: EdgeProvider;
  /** How long switched-out containers may finish their requests in flight (HOIST_LOCAL_DRAIN_S). */
  drainS: number;
  logLines?: number;
  healthIntervalMs?: number;
  /** The deployer's registry user (pull on every app's repository), sent only to its registry. */
  pullAuth?: RegistryAuth;
}

/**
 * Single-host target over the Docker Engine API (podman here), with Caddy as the edge: the service's
 * `port` is where Caddy listens, each container gets a free loopback port of its own. The swap starts
 * the new containers beside the old ones, health-checks them directly, switches Caddy's upstreams in
 * one config change, waits for the old ones to drain (bounded), then removes them. A new release that
 * never gets healthy is removed; the old one was never touched.
 */
export class LocalTarget implements DeployTarget {
  constructor(
    private readonly docker: Docker,
    private readonly opts: LocalTargetOptions,
  ) {}

  async deploy({ app, release, env, step, signal }: DeployInput): Promise<DeployOutcome> {
    if (app.target.kind !== "local") throw new PermanentDeployError(`app ${app.name} is not a local-target app`);
    const plan = this.plan(app, app.target, release);
    const edge = await this.opts.edges.edge();
    for (const p of plan) await this.ensureImage(p.image.tag, step);

    const routes = (await edge.snapshot()).filter((r) => r.app === app.name);
    const routed = new Set(routes.flatMap((r) => [...(r.kind === "port" ? r.upstreams : r.target), ...r.draining]));
    const all = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${app.name}`] } });
    const servedByCaddy = (c: Docker.ContainerInfo) => routed.has(upstreamOf(Number(c.Labels[LABELS.port])));
    // An earlier attempt's containers of this release go, unless Caddy already serves them (that attempt
    // switched, then died): those are drained like any old container.
    for (const c of all.filter((c) => c.Labels[LABELS.release] === release.id && !servedByCaddy(c))) {
      await step(`removing container ${c.Names[0] ?? c.Id} left by an earlier attempt`);
      await this.remove(c.Id);
    }
    const old = all.filter((c) => c.Labels[LABELS.release] !== release.id || servedByCaddy(c));

    const started: Started[] = [];
    try {
      for (const p of plan) {
        for (let i = 0; i < p.replicas; i++) started.push(await this.start(app.name, release, env, p));
      }
      await step(
        `started ${started.map((s) => `${s.p.image.service} on 127.0.0.1:${s.hostPort}`).join(", ")} beside the serving containers; health-checking them directly`,
      );
      const failure = await this.firstUnhealthy(started, signal);
      if (signal?.aborted) throw new Error(`deploy of ${release.id} stopped while health-checking: ${String(signal.reason)}`);
      if (failure) {
        await step(failure);
        await this.removeAll(started.map((s) => s.id));
        await step(`removed the new container(s); the serving release was never touched`);
        return { ok: false, reason: failure };
      }
    } catch (err) {
      await this.removeAll(started.map((s) => s.id)).catch(() => {});
      throw err;
    }

    // One config change per service: new requests go to the new containers only.
    const switchedOut: { id: string; upstreams: string[] }[] = [];
    for (const p of plan) {
      const upstreams = started.filter((s) => s.p === p).map((s) => upstreamOf(s.hostPort));
      const { port } = p.config;
      if (port === undefined) {
        // No port of its own: the host route is the service's only route, switched to the new containers in one change.
        const portId = portRouteId({ app: app.name, service: p.image.service });
        if (routes.some((r) => r.id === portId)) await edge.removeRoute(portId);
        const id = hostRouteId({ app: app.name, service: p.image.service });
        const previous = routes.find((r) => r.kind === "hosts" && r.id === id);
        // Upstreams parked by the previous swap were drained then: dropped in this change, as on a port route.
        const out = previous?.kind === "hosts" ? previous.target.filter((u) => !upstreams.includes(u)) : [];
        await this.ensureHosts(edge, app.name, p, routes, upstreams, out);
        switchedOut.push({ id, upstreams: out });
        await step(`Caddy serves ${p.image.service} on ${p.config.hosts?.join(", ")} (no port) from ${upstreams.join(", ")}`);
        continue;
      }
      const spec = portRouteSpec(app.name, p.image.service, { ...p.config, port }, upstreams);
      const id = portRouteId(spec);
      const current = routes.find((r) => r.kind === "port" && r.id === id);
      if (current?.kind === "port" && sameListen(current.listen, port)) {
        // Upstreams parked by the previous swap were drained then and their containers removed: dropped in this change.
        const out = await edge.setUpstreams(id, upstreams, { forgetParked: true });
        switchedOut.push({ id, upstreams: out.draining });
        await step(`Caddy :${port} now sends ${p.image.service} to ${upstreams.join(", ")} (switch ${Math.round(out.ms)} ms)`);
      } else {
        await edge.ensurePortRoute(spec);
        await step(`Caddy :${port} serves ${p.image.service} from ${upstreams.join(", ")}`);
      }
      await this.ensureHosts(edge, app.name, p, routes, upstreams);
    }
    for (const r of routes) {
      if (!plan.some((p) => r.service === p.image.service)) {
        await edge.removeRoute(r.id);
        await step(`removed Caddy route ${r.id}: the release has no service ${r.service}`);
      }
    }

    for (const s of switchedOut) {
      const drain = await edge.drain(s.upstreams, { timeoutMs: this.opts.drainS * 1000 }).catch((err: unknown) => {
        if (err instanceof CaddyAdminError && !err.retryable) return undefined; // Caddy restarted meanwhile: nothing to drain
        throw err;
      });
      if (drain && s.upstreams.length > 0)
        await step(
          drain.drained
            ? `old upstreams of ${s.id} drained in ${Math.round(drain.ms)} ms`
            : `drain bound (HOIST_LOCAL_DRAIN_S=${this.opts.drainS}) reached with requests still in flight: ${JSON.stringify(drain.inFlight)}`,
        );
    }
    for (const c of old) await this.stopAndRemove(c.Id);
    await step(`removed ${old.length} old container(s)`);
    return { ok: true };
  }

  private async ensureHosts(
    edge: CaddyEdge,
    app: string,
    p: Planned,
    routes: HoistRoute[],
    upstreams: string[],
    draining: string[] = [],
  ): Promise<void> {
    const ref = { app, service: p.image.service };
    const spec = hostRouteSpec(app, p.image.service, p.config, upstreams, draining);
    if (spec) {
      await edge.ensureHostRoute(spec);
    } else if (routes.some((r) => r.id === hostRouteId(ref))) {
      await edge.removeRoute(hostRouteId(ref));
    }
  }

  /** Creates and starts one container of `p` on a free loopback port of its own. */
  async start(app: string, release: Release, env: Record<string, string>, p: Planned): Promise<Started> {
    const hostPort = await freePort();
    const container = await this.docker.createContainer({
      name: `hoist-${app}-${p.image.service}-r${release.number}-${hostPort}`.replace(/[^a-zA-Z0-9_.-]/g, "-"),
      Image: p.image.tag,
      Env: [...Object.entries(env).map(([k, v]) => `${k}=${v}`), `PORT=${hostPort}`],
      Labels: {
        [LABELS.app]: app,
        [LABELS.service]: p.image.service,
        [LABELS.release]: release.id,
        [LABELS.number]: String(release.number),
        [LABELS.port]: String(hostPort),
      },
      ExposedPorts: { [`${hostPort}/tcp`]: {} },
      ...(await this.isolation(app, p, hostPort)),
    });
    const started = { id: container.id, p, hostPort };
    try {
      await container.start();
    } catch (err) {
      await this.remove(container.id);
      throw err;
    }
    return started;
  }

  /** Health-checks every new container directly (not through Caddy); the first that fails, with its logs. */
  private async firstUnhealthy(started: Started[], signal: AbortSignal | undefined): Promise<string | undefined> {
    const results = await Promise.all(
      started.map(async (s) => {
        const url = `http://127.0.0.1:${s.hostPort}${s.p.config.healthPath ?? "/"}`;
        const health = await waitForHttp2xx(url, s.p.timeoutMs, {
          signal,
          ...(this.opts.healthIntervalMs ? { intervalMs: this.opts.healthIntervalMs } : {}),
          stillRunning: async () => (await this.docker.getContainer(s.id).inspect()).State.Running,
        });
        return { s, url, health };
      }),
    );
    const bad = results.find((r) => !r.health.ok);
    if (!bad || bad.health.ok) return undefined;
    const logs = await this.tail(bad.s.id);
    return `service ${bad.s.p.image.service} did not become healthy: ${bad.url} ${bad.health.why}; last log lines:\n${logs.join("\n")}`;
  }

  /**
   * An app's code is hostile: each app gets a bridge network of its own (never the host's, where
   * Hoist's Redis and API listen on loopback), its port published on 127.0.0.1 only, no
   * capabilities, no privilege escalation, a non-root user and memory, CPU and pids limits.
   */
  private async isolation(app: string, p: Planned, hostPort: number): Promise<Pick<Docker.ContainerCreateOptions, "User" | "HostConfig">> {
    const network = await this.ensureNetwork(app);
    const c = p.config;
    const user = c.user ?? ((await this.imageUser(p.image.tag)) || DEFAULT_USER);
    return {
      User: user === "root" ? "0:0" : user,
      HostConfig: {
        NetworkMode: network,
        PortBindings: { [`${hostPort}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }] },
        RestartPolicy: { Name: "unless-stopped" },
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        Memory: (c.memoryMb ?? LIMITS.memoryMb) * 1024 * 1024,
        NanoCpus: Math.round((c.cpus ?? LIMITS.cpus) * 1e9),
        PidsLimit: c.pids ?? LIMITS.pids,
        ...(c.readOnly ? { ReadonlyRootfs: true, Tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" } } : {}),
      },
    };
  }

  /** The image's own user when it is not root (an image that chose a user keeps it). */
  private async imageUser(tag: string): Promise<string | undefined> {
    const user = (await this.docker.getImage(tag).inspect()).Config?.User?.trim();
    return user && !/^(root|0)(:.*)?$/.test(user) ? user : undefined;
  }

  private async ensureNetwork(app: string): Promise<string> {
    const name = appNetworkName(app);
    try {
      await this.docker.getNetwork(name).inspect();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      await this.docker.createNetwork({ Name: name, Driver: "bridge", CheckDuplicate: true, Labels: { [LABELS.app]: app } }).catch((e) => {
        // Another deployer created it between the inspect and the create.
        if (statusOf(e) !== 409) throw e;
      });
    }
    return name;
  }

  private plan(app: App, target: LocalTargetConfig, release: Release): Planned[] {
    if (release.images.length === 0) throw new PermanentDeployError(`release ${release.id} has no images`);
    return release.images.map((image) => {
      const config = target.services[image.service];
      if (!config) {
        throw new PermanentDeployError(
          `the app's local target has no service "${image.service}"; set target.services.${image.service}.port (or its hosts)`,
        );
      }
      return { image, config, replicas: replicasOf(app, image.service), timeoutMs: (config.healthTimeout ?? 60) * 1000 };
    });
  }

  private async ensureImage(tag: string, step: (l: string) => Promise<void>): Promise<void> {
    try {
      await this.docker.getImage(tag).inspect();
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    await step(`pulling ${tag}`);
    let pullError: string | undefined;
    try {
      const auth = this.opts.pullAuth;
      const stream = await this.docker.pull(tag, auth && registryHost(tag) === auth.serveraddress ? { authconfig: auth } : {});
      const progress = await new Promise<unknown[]>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (err: Error | null, out: unknown[]) => (err ? reject(err) : resolve(out))),
      );
      // The engine reports a failed pull inside the progress stream, not as an HTTP error.
      const failed = progress.find((p): p is { error: string } => typeof (p as { error?: unknown }).error === "string");
      pullError = failed?.error;
    } catch (err) {
      const status = statusOf(err);
      if (!status || status >= 500) throw err;
      pullError = (err as Error).message;
    }
    try {
      await this.docker.getImage(tag).inspect();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      const why = (pullError ?? "the engine does not have it after pulling").trim();
      // A registry that is down or slow is worth retrying; an image or repository it does not have is not.
      if (pullError && !PERMANENT_PULL.test(pullError)) throw new Error(`pulling ${tag} failed: ${why}`);
      throw new PermanentDeployError(`image ${tag} cannot be pulled: ${why}`);
    }
  }

  /**
   * Removes everything of a deploy unit (a preview's teardown): its Caddy routes first (no request
   * reaches a stopping container), then its containers and its network. Missing pieces are fine, so a
   * rerun after a crash finishes the job and one after it is done removes nothing. Says what it removed.
   */
  async removeUnit(unit: string): Promise<string[]> {
    const removed: string[] = [];
    const edge = await this.opts.edges.edge();
    for (const r of (await edge.snapshot()).filter((r) => r.app === unit)) {
      await edge.removeRoute(r.id);
      removed.push(`route ${r.id}`);
    }
    for (const c of await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${unit}`] } })) {
      await this.stopAndRemove(c.Id);
      removed.push(`container ${c.Names[0]?.replace(/^\//, "") ?? c.Id}`);
    }
    const network = appNetworkName(unit);
    try {
      await this.docker.getNetwork(network).remove();
      removed.push(`network ${network}`);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    return removed;
  }

  /** SIGTERM, the stop timeout, then removal: a drained container gets to exit cleanly. */
  async stopAndRemove(id: string): Promise<void> {
    await this.stop(id);
    await this.remove(id);
  }

  private async removeAll(ids: string[]): Promise<void> {
    for (const id of ids) await this.remove(id);
  }

  private async stop(id: string): Promise<void> {
    await this.docker
      .getContainer(id)
      .stop({ t: this.opts.stopTimeoutS })
      .catch((err) => {
        if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
      });
  }

  private async remove(id: string): Promise<void> {
    await this.docker
      .getContainer(id)
      .remove({ force: true })
      .catch((err) => {
        if (statusOf(err) !== 404) throw err;
      });
  }

  private async tail(id: string): Promise<string[]> {
    try {
      const buf = (await this.docker
        .getContainer(id)
        .logs({ stdout: true, stderr: true, tail: this.opts.logLines ?? 20 })) as unknown as Buffer;
      return lastLines(demuxDockerLogs(Buffer.from(buf)), this.opts.logLines ?? 20);
    } catch (err) {
      return [`(no logs: ${(err as Error).message})`];
    }
  }
}
