import { deploymentOf, type Logger, tryAcquireAppLock } from "@hoist/shared";
import { EcsDeployTarget, RedisEcsRolloutState } from "../adapters/ecs-target.js";
import type { ReconcileDeps } from "../adapters/local-reconcile.js";
import { LocalTarget } from "../adapters/local-target.js";
import type { DeployPorts } from "../domain/deploy.js";
import type { DeployerDeps } from "./ports.js";

/** Wires the local reconcile to the records, the deploy lock, podman and Caddy. */
export function reconcileDeps(deps: DeployerDeps, ports: Pick<DeployPorts, "openEnv">, log: Logger): ReconcileDeps {
  const wake = async (releaseIds: string[]) => {
    const queue = deps.queues.queue("deploy");
    await Promise.all(releaseIds.map(async (id) => (await queue.getJob(id))?.promote().catch(() => {})));
  };
  const ecs = new EcsDeployTarget({
    client: deps.ecs,
    state: new RedisEcsRolloutState(deps.redis, deps.prefix),
    pollMs: deps.ecsPollMs,
    defaultTimeoutS: deps.ecsTimeoutS,
  });
  return {
    docker: deps.docker,
    edges: deps.edges,
    target: new LocalTarget(deps.docker, { stopTimeoutS: deps.stopTimeoutS, edges: deps.edges, drainS: deps.drainS }),
    log,
    drainS: deps.drainS,
    // Every environment of every app, each named by its deploy unit (production: the app itself).
    async apps() {
      const apps = await deps.records.apps.list();
      const envs = await Promise.all(apps.map((app) => deps.records.environments.list(app)));
      return apps.flatMap((app, i) => (envs[i] ?? []).map((env) => deploymentOf(app, env)));
    },
    async liveRelease(unit) {
      const id = await deps.redis.get(deps.records.keys.liveRelease(unit));
      return id ? deps.records.releases.get(id) : undefined;
    },
    openEnv: (release) => ports.openEnv(release),
    tryLock: (unit) => tryAcquireAppLock(deps.redis, deps.prefix, unit, deps.lockTtlMs, { wake }),
    ecsScale: (app) => ecs.scale(app),
  };
}
