import type { App, HeldLock, Logger, Release } from "@hoist/shared";
import type Docker from "dockerode";
import { waitForHttp2xx } from "../domain/health.js";
import type { CaddyEdge, HoistRoute } from "./caddy/caddy-edge.js";
import { sameListen } from "./caddy/config.js";
import { hostRouteId, portRouteId } from "./caddy/ids.js";
import type { EdgeProvider } from "./caddy/provider.js";
import { hostRouteSpec, LABELS, type LocalTarget, portRouteSpec, replicasOf, upstreamOf } from "./local-target.js";

export interface ReconcileDeps {
  docker: Docker;
  edges: EdgeProvider;
  target: LocalTarget;
  log: Logger;
  drainS: number;
  /** Every deploy unit: each environment of each app as it deploys (shared deploymentOf, named by its unit). */
  apps(): Promise<App[]>;
  /** The unit's live release, if any. */
  liveRelease(unit: string): Promise<Release | undefined>;
  openEnv(release: Release): Promise<Record<string, string>>;
  /** The unit's deploy lock, or undefined while a deploy holds it (that deploy sets things right). */
  tryLock(unit: string): Promise<HeldLock | undefined>;
  /** Sets an ECS app's desiredCount to its scale; says what it changed. */
  ecsScale?(app: App): Promise<string | undefined>;
  /** Queues the teardown of previews past their app's `max` or idle `ttlHours` (domain/previews.ts); says what. */
  previewLimits?(): Promise<string[]>;
}

/** What one reconcile changed, one line per repair (also logged). */
type Repairs = string[];

type Container = Docker.ContainerInfo;

/**
 * Makes Caddy and the local containers match the records: each local app's live release with its
 * replicas, each service's port route on exactly the running containers, host routes as configured,
 * and no Hoist route of an app or service that has no live release. A Caddy restarted empty, a
 * container killed by hand and a route left by a crash are repaired without a deploy.
 */
async function reconcileLocal(deps: ReconcileDeps): Promise<Repairs> {
  const repairs: Repairs = [];
  const repaired = (app: string, what: string) => {
    repairs.push(`${app}: ${what}`);
    deps.log.info({ app, repair: what }, "reconcile: repaired");
  };
  if (deps.previewLimits) {
    const closed = await deps.previewLimits().catch((err: unknown) => {
      deps.log.warn({ err: (err as Error).message }, "reconcile: could not apply the previews' limits; next round tries again");
      return [];
    });
    for (const what of closed) {
      repairs.push(`previews: ${what}`);
      deps.log.info({ repair: what }, "reconcile: preview closed");
    }
  }
  const all = await deps.apps();
  for (const app of all.filter((a) => a.target.kind === "ecs" && a.scale && deps.ecsScale)) {
    const done = await deps.ecsScale?.(app).catch((err: unknown) => {
      deps.log.warn({ app: app.name, err: (err as Error).message }, "reconcile: could not set the ECS service's desiredCount");
      return undefined;
    });
    if (done) repaired(app.name, done);
  }
  const apps = all.filter((a) => a.target.kind === "local");
  // No Caddy (not installed, no HOIST_CADDY_ADMIN_URL) is only an error when there are local apps to serve.
  const edge = await deps.edges.edge().catch((err: unknown) => {
    if (apps.length > 0) throw err;
    return undefined;
  });
  if (!edge) return repairs;
  const routes = await edge.snapshot();
  const wanted = new Set<string>();
  for (const app of apps) {
    const live = await deps.liveRelease(app.name);
    if (!live) continue;
    for (const image of live.images) {
      const config = app.target.kind === "local" ? app.target.services[image.service] : undefined;
      if (config?.port !== undefined) wanted.add(portRouteId({ app: app.name, service: image.service }));
      if (config?.hosts) wanted.add(hostRouteId({ app: app.name, service: image.service }));
    }
    const lock = await deps.tryLock(app.name);
    if (!lock) continue;
    try {
      await reconcileApp(deps, edge, app, live, routes, (what) => repaired(app.name, what));
    } catch (err) {
      deps.log.warn({ app: app.name, err: (err as Error).message }, "reconcile: could not repair the app; next round tries again");
    } finally {
      await lock.release();
    }
  }
  for (const r of routes) {
    if (wanted.has(r.id)) continue;
    const app = apps.find((a) => a.name === r.app);
    // A route of an app whose first deploy runs now is that deploy's: only remove it when no deploy holds the app.
    const lock = app ? await deps.tryLock(app.name) : undefined;
    if (app && !lock) continue;
    try {
      await edge.removeRoute(r.id);
      repaired(r.app, `removed stale Caddy route ${r.id} (no live release serves it)`);
    } finally {
      await lock?.release();
    }
  }
  return repairs;
}

async function reconcileApp(
  deps: ReconcileDeps,
  edge: CaddyEdge,
  app: App,
  live: Release,
  routes: HoistRoute[],
  repaired: (what: string) => void,
): Promise<void> {
  if (app.target.kind !== "local") return;
  const containers = await deps.docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${app.name}`] } });
  for (const image of live.images) {
    const config = app.target.services[image.service];
    if (!config) continue;
    const service = image.service;
    const mine = containers.filter((c) => c.Labels[LABELS.release] === live.id && c.Labels[LABELS.service] === service);
    const dead = mine.filter((c) => c.State !== "running");
    for (const c of dead) {
      await deps.target.stopAndRemove(c.Id);
      repaired(`removed ${service} container ${c.Names[0] ?? c.Id} (${c.State})`);
    }
    let running: Container[] = mine.filter((c) => c.State === "running");
    const want = replicasOf(app, service);
    const extra = running.slice(want);
    running = running.slice(0, want);
    const plan = { image, config, replicas: 1, timeoutMs: (config.healthTimeout ?? 60) * 1000 };
    const added: number[] = [];
    if (running.length < want) {
      const env = await deps.openEnv(live);
      for (let i = running.length; i < want; i++) {
        const s = await deps.target.start(app.name, live, env, plan);
        const ok = await waitForHttp2xx(`http://127.0.0.1:${s.hostPort}${config.healthPath ?? "/"}`, plan.timeoutMs);
        if (!ok.ok) {
          await deps.target.stopAndRemove(s.id);
          throw new Error(`a new ${service} container of live release ${live.id} did not become healthy: ${ok.why}`);
        }
        added.push(s.hostPort);
      }
      repaired(`started ${added.length} ${service} container(s) of live release ${live.id} (want ${want})`);
    }
    const upstreams = [...running.map((c) => upstreamOf(Number(c.Labels[LABELS.port]))), ...added.map(upstreamOf)];
    const port = config.port;
    if (port !== undefined) {
      const spec = portRouteSpec(app.name, service, { ...config, port }, upstreams);
      const route = routes.find((r) => r.kind === "port" && r.id === portRouteId(spec));
      if (route?.kind !== "port" || !sameListen(route.listen, port)) {
        await edge.ensurePortRoute(spec);
        repaired(`Caddy :${port} had no route for ${service}; now ${upstreams.join(", ")}`);
      } else if ([...route.upstreams].sort().join() !== [...upstreams].sort().join()) {
        const out = await edge.setUpstreams(route.id, upstreams);
        if (extra.length > 0) await edge.drain(out.draining, { timeoutMs: deps.drainS * 1000 }).catch(() => undefined);
        await edge.forgetDrained(route.id);
        repaired(`Caddy :${port} sent ${service} to ${route.upstreams.join(", ")}; now ${upstreams.join(", ")}`);
      }
    }
    for (const c of extra) {
      await deps.target.stopAndRemove(c.Id);
      repaired(`removed ${service} container ${c.Names[0] ?? c.Id} beyond ${want} replica(s)`);
    }
    const hostId = hostRouteId({ app: app.name, service });
    const hostRoute = routes.find((r) => r.id === hostId);
    const spec = hostRouteSpec(app.name, service, config, upstreams);
    if (spec) {
      const same =
        hostRoute?.kind === "hosts" &&
        hostRoute.tls === spec.tls &&
        hostRoute.hosts.join() === spec.hosts.join() &&
        // A service with no port: its host route names exactly the running containers.
        (port !== undefined || [...hostRoute.target].sort().join() === [...upstreams].sort().join());
      if (!same) {
        await edge.ensureHostRoute(spec);
        repaired(
          `Caddy host route for ${spec.hosts.join(", ")} (${spec.tls}) ensured${port === undefined ? ` to ${upstreams.join(", ")}` : ""}`,
        );
      }
    }
  }
  // Containers of other releases (a crash between switch and removal) no route serves any more.
  const serving = new Set(
    (await edge.snapshot()).flatMap((r) => (r.app === app.name ? [...(r.kind === "port" ? r.upstreams : r.target), ...r.draining] : [])),
  );
  for (const c of containers) {
    if (c.Labels[LABELS.release] === live.id || serving.has(upstreamOf(Number(c.Labels[LABELS.port])))) continue;
    await deps.target.stopAndRemove(c.Id);
    repaired(`removed container ${c.Names[0] ?? c.Id} of release ${c.Labels[LABELS.release]} (not live)`);
  }
}

/** Reconciles now and every `everyS` until stopped; a round that fails is logged and retried next time. */
export function startReconcileLoop(deps: ReconcileDeps, everyS: number): { stop(): Promise<void>; round(): Promise<Repairs> } {
  let running: Promise<Repairs> | undefined;
  const round = () => {
    running ??= reconcileLocal(deps)
      .catch((err: unknown) => {
        deps.log.warn({ err: (err as Error).message }, "reconcile: round failed; next round tries again");
        return [] as Repairs;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  void round();
  const timer = setInterval(() => void round(), everyS * 1000);
  timer.unref();
  return {
    round,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
