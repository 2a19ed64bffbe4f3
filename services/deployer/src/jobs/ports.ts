import type { ECSClient } from "@aws-sdk/client-ecs";
import {
  deploymentOf,
  environmentPolicy,
  type JobQueues,
  NotFoundError,
  type OutboundFetch,
  parseDeployUnit,
  type Records,
  type Redis,
  type RegistryAuth,
  ReleaseGates,
  ReleaseLifecycle,
  type SecretBox,
  secretContexts,
  tryAcquireAppLock,
  waitForAppLock,
} from "@hoist/shared";
import type Docker from "dockerode";
import { z } from "zod";
import type { EdgeProvider } from "../adapters/caddy/provider.js";
import { EcsDeployTarget, RedisEcsRolloutState } from "../adapters/ecs-target.js";
import { gitlabFreezePeriods } from "../adapters/gitlab-freezes.js";
import { LocalTarget } from "../adapters/local-target.js";
import type { RegistryTags } from "../adapters/registry-tags.js";
import type { ReleaseLog } from "../adapters/release-log.js";
import type { DeployPorts } from "../domain/deploy.js";
import { PermanentDeployError } from "../domain/target.js";
import { followPreviewRelease } from "./previews.js";

export interface DeployerDeps {
  redis: Redis;
  prefix: string;
  records: Records;
  queues: JobQueues;
  secrets: SecretBox;
  docker: Docker;
  ecs: (region: string | undefined) => ECSClient;
  releaseLog: ReleaseLog;
  lockTtlMs: number;
  ecsPollMs: number;
  ecsTimeoutS: number;
  stopTimeoutS: number;
  /** Caddy, the local target's edge (HOIST_CADDY_ADMIN_URL's, or the deployer's own). */
  edges: EdgeProvider;
  /** HOIST_LOCAL_DRAIN_S: how long switched-out containers may finish their requests. */
  drainS: number;
  /** Pulls from Hoist's registry as the deployer user (HOIST_REGISTRY + its secret); none: anonymous pulls. */
  pullAuth?: RegistryAuth;
  /** Removes a preview's tags from Hoist's registry on its teardown; none: HOIST_REGISTRY is not set (they are kept). */
  registryTags?: RegistryTags;
  /** Requests to GitLab (freeze periods) go through it (HOIST_OUTBOUND_ALLOW). */
  fetch: OutboundFetch;
  /** The clock the gates read (freezes); tests inject one. Default: Date.now. */
  now?: () => number;
}

const envObjectSchema = z.record(z.string(), z.string());

/** Wires the deploy domain to Redis, the secret box, podman and ECS. */
export function deployPorts(deps: DeployerDeps): DeployPorts {
  const releases = new ReleaseLifecycle(deps.records, deps.queues);
  const gates = new ReleaseGates(deps.records, deps.queues);
  const local = new LocalTarget(deps.docker, {
    stopTimeoutS: deps.stopTimeoutS,
    edges: deps.edges,
    drainS: deps.drainS,
    ...(deps.pullAuth ? { pullAuth: deps.pullAuth } : {}),
  });
  const ecs = new EcsDeployTarget({
    client: deps.ecs,
    state: new RedisEcsRolloutState(deps.redis, deps.prefix),
    pollMs: deps.ecsPollMs,
    defaultTimeoutS: deps.ecsTimeoutS,
  });
  // Deploy jobs are stored under their release id: waking one is promoting its delayed job. A job
  // that is not delayed (already running, or not yet moved to delayed) is left alone.
  const wake = async (releaseIds: string[]) => {
    const queue = deps.queues.queue("deploy");
    await Promise.all(releaseIds.map(async (id) => (await queue.getJob(id))?.promote().catch(() => {})));
  };
  return {
    loadRelease: (id) => deps.records.releases.get(id),
    async loadDeployment(release) {
      const found = await deps.records.environments.withApp(release.app, release.environment);
      return found ? deploymentOf(found.app, found.environment) : undefined;
    },
    async openEnv(release) {
      if (!release.env) return {};
      const plain = await deps.secrets.open(release.env, secretContexts.environmentEnv(release.app, release.environment));
      const parsed = envObjectSchema.safeParse(JSON.parse(plain.toString("utf8")));
      if (!parsed.success) throw new PermanentDeployError(`release ${release.id}'s environment is not an object of strings`);
      return parsed.data;
    },
    tryLock: (unit, waiter) => tryAcquireAppLock(deps.redis, deps.prefix, unit, deps.lockTtlMs, { waiter, wake }),
    async sleepUntilUnlocked(unit, releaseId) {
      if (!(await waitForAppLock(deps.redis, deps.prefix, unit, releaseId))) await wake([releaseId]);
    },
    // A preview's release moving moves its preview (jobs/previews.ts followPreviewRelease).
    async begin(release, lock) {
      const out = await releases.begin(release, lock);
      if (out.kind === "deploying") await followPreviewRelease(deps.records, release, "deploying");
      return out;
    },
    async goLive(release, lock) {
      const out = await releases.goLive(release, lock);
      await followPreviewRelease(deps.records, release, "live");
      return out;
    },
    async fail(release, reason, lock) {
      const failed = await releases.fail(release, reason, lock);
      if (failed) await followPreviewRelease(deps.records, { ...release, reason }, "failed");
      return failed;
    },
    targetFor: (app) => (app.target.kind === "ecs" ? ecs : local),
    step: (id, line) => deps.releaseLog.write(id, line),
    async policy(release) {
      try {
        return await environmentPolicy(deps.records, release.app, release.environment);
      } catch (err) {
        // The app or its environment was deleted since the release was made: nothing to deploy it to.
        if (err instanceof NotFoundError) throw new PermanentDeployError(err.message);
        throw err;
      }
    },
    async gitlabFreezes(app) {
      if (!app.gitlab) return [];
      const conn = await deps.records.gitlabConnections.get(app.gitlab.connectionId);
      // The link is broken (its connection deleted): there is no GitLab to ask; the notifier says so too.
      if (!conn) return [];
      // Audited as the app's (the deployment's unit names the app and its environment).
      const token = (await deps.secrets.open(conn.token, secretContexts.gitlabToken(conn.id), parseDeployUnit(app.name).app)).toString(
        "utf8",
      );
      return gitlabFreezePeriods({ url: conn.url, token }, app.gitlab.projectId, deps.fetch);
    },
    hold: (release, to, fields) => gates.hold(release, to, fields),
    now: deps.now ?? Date.now,
  };
}
