import {
  type Deployment,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  ECSServiceException,
  RegisterTaskDefinitionCommand,
  type Service,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { type App, describeAwsAuthError, isAwsAuthError, type Redis, recordKeys } from "@hoist/shared";
import { type DeployInput, type DeployOutcome, type DeployTarget, PermanentDeployError } from "../domain/target.js";
import { nextTaskDefinition } from "../domain/task-definition.js";
import { ensurePreviewService, removePreviewService } from "./ecs-preview-service.js";

type EcsTarget = Extract<App["target"], { kind: "ecs" }>;

/** AWS errors no retry fixes: the service, cluster or task definition is wrong, or we may not touch it. */
const PERMANENT = new Set([
  "ServiceNotFoundException",
  "ServiceNotActiveException",
  "ClusterNotFoundException",
  "ClientException",
  "InvalidParameterException",
  "AccessDeniedException",
  "UnsupportedFeatureException",
  "PlatformUnknownException",
]);

/** What a rollout registered, so a retried job watches it instead of registering again. */
interface EcsRolloutState {
  get(releaseId: string): Promise<{ taskDefinitionArn: string; previousTaskDefinition: string } | undefined>;
  set(releaseId: string, value: { taskDefinitionArn: string; previousTaskDefinition: string }): Promise<void>;
}

export class RedisEcsRolloutState implements EcsRolloutState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}
  private key(id: string) {
    return recordKeys(this.prefix).ecsRollout(id);
  }
  async get(id: string) {
    const v = await this.redis.get(this.key(id));
    return v ? (JSON.parse(v) as { taskDefinitionArn: string; previousTaskDefinition: string }) : undefined;
  }
  async set(id: string, value: { taskDefinitionArn: string; previousTaskDefinition: string }) {
    await this.redis.set(this.key(id), JSON.stringify(value), "EX", 90 * 24 * 3600);
  }
}

interface EcsTargetOptions {
  client: (region: string | undefined) => ECSClient;
  state: EcsRolloutState;
  pollMs: number;
  /** Default rollout timeout in seconds, when the app's target sets none. */
  defaultTimeoutS?: number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Rolls a release out to an ECS service, with the deployment circuit breaker rolling back failures. */
export class EcsDeployTarget implements DeployTarget {
  constructor(private readonly opts: EcsTargetOptions) {}

  async deploy(input: DeployInput): Promise<DeployOutcome> {
    const target = input.app.target;
    if (target.kind !== "ecs") throw new PermanentDeployError(`app ${input.app.name} is not an ECS-target app`);
    try {
      return await this.rollout(target, input);
    } catch (err) {
      if (err instanceof ECSServiceException && isAwsAuthError(err.name)) {
        throw new PermanentDeployError(
          `ECS ${describeAwsAuthError(err.name, err.message, { who: "the deployer", region: "AWS_REGION or the app's target.region" })}`,
        );
      }
      if (err instanceof ECSServiceException && PERMANENT.has(err.name)) {
        throw new PermanentDeployError(`ECS ${err.name}: ${err.message}`);
      }
      // Transient (retried), but named: "Rate exceeded" alone does not say ECS throttled us.
      if (err instanceof ECSServiceException) throw new Error(`ECS ${err.name}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /**
   * Sets the ECS service's desiredCount to the app's scale (`PATCH /v1/apps/:app/scale`) when it differs: one
   * service runs every container of the task, so the largest count asked for any of them. Says what it changed.
   */
  async scale(app: App): Promise<string | undefined> {
    const target = app.target;
    const counts = Object.values(app.scale ?? {});
    if (target.kind !== "ecs" || counts.length === 0) return undefined;
    const want = Math.max(...counts);
    const ecs = this.opts.client(target.region);
    const service = await this.describe(ecs, target);
    if (service.desiredCount === want) return undefined;
    await ecs.send(new UpdateServiceCommand({ cluster: target.cluster, service: target.service, desiredCount: want }));
    return `ECS service ${target.service} desiredCount ${service.desiredCount ?? "?"} → ${want}`;
  }

  /** Removes a review app's ECS service (teardown); a rerun finds it gone and does nothing. */
  async removePreview(target: EcsTarget): Promise<string> {
    try {
      return await removePreviewService(this.opts.client(target.region), target);
    } catch (err) {
      if (err instanceof ECSServiceException && (isAwsAuthError(err.name) || PERMANENT.has(err.name))) {
        throw new PermanentDeployError(`ECS ${err.name}: ${err.message}`);
      }
      throw err;
    }
  }

  private async rollout(target: EcsTarget, { release, env, step, signal }: DeployInput): Promise<DeployOutcome> {
    const ecs = this.opts.client(target.region);
    let state = await this.opts.state.get(release.id);
    if (state) {
      await step(`resuming: ${state.taskDefinitionArn} was registered by an earlier attempt`);
    } else {
      // A review app's service is made from its base on its first deploy.
      const service = target.previewOf ? await ensurePreviewService(ecs, target, step) : await this.describe(ecs, target);
      const current = service.taskDefinition;
      if (!current) throw new PermanentDeployError(`ECS service ${target.service} has no task definition`);
      await step(`service ${target.service} in ${target.cluster} runs ${current}`);
      const described = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: current }));
      if (!described.taskDefinition) throw new PermanentDeployError(`ECS returned no task definition for ${current}`);
      const next = nextTaskDefinition(described.taskDefinition, release.images, env, target.containers);
      const registered = await ecs.send(new RegisterTaskDefinitionCommand(next));
      const arn = registered.taskDefinition?.taskDefinitionArn;
      if (!arn) throw new Error("RegisterTaskDefinition answered without a taskDefinitionArn");
      state = { taskDefinitionArn: arn, previousTaskDefinition: current };
      await this.opts.state.set(release.id, state);
      await step(`registered ${arn}`);
    }
    const service = await this.describe(ecs, target);
    if (!(service.deployments ?? []).some((d) => d.taskDefinition === state.taskDefinitionArn)) {
      await ecs.send(
        new UpdateServiceCommand({
          cluster: target.cluster,
          service: target.service,
          taskDefinition: state.taskDefinitionArn,
          deploymentConfiguration: {
            ...service.deploymentConfiguration,
            deploymentCircuitBreaker: { enable: true, rollback: true },
          },
        }),
      );
      await step(`updated service ${target.service} to ${state.taskDefinitionArn} (circuit breaker with rollback)`);
    }
    return this.watch(ecs, target, state, step, signal);
  }

  private async watch(
    ecs: ECSClient,
    target: EcsTarget,
    state: { taskDefinitionArn: string; previousTaskDefinition: string },
    step: (l: string) => Promise<void>,
    signal: AbortSignal | undefined,
  ): Promise<DeployOutcome> {
    const timeoutS = target.rolloutTimeout ?? this.opts.defaultTimeoutS ?? 900;
    const deadline = Date.now() + timeoutS * 1000;
    let lastState = "";
    for (;;) {
      const service = await this.describe(ecs, target);
      const ours = service.deployments?.find((d) => d.taskDefinition === state.taskDefinitionArn);
      const rollout = ours ? `${ours.rolloutState ?? "?"}${ours.rolloutStateReason ? ` (${ours.rolloutStateReason})` : ""}` : "gone";
      if (rollout !== lastState) {
        await step(`rollout: ${rollout}`);
        lastState = rollout;
      }
      if (ours?.rolloutState === "COMPLETED") return { ok: true };
      if (ours?.rolloutState === "FAILED" || !ours) {
        const reason = ours?.rolloutStateReason ?? "ECS replaced the deployment before it completed";
        await this.awaitPrevious(ecs, target, state.previousTaskDefinition, deadline, step, signal);
        return { ok: false, reason: `ECS rollout failed: ${reason}` };
      }
      if (signal?.aborted) throw new Error(`stopped watching the rollout of ${state.taskDefinitionArn}: ${String(signal.reason)}`);
      if (Date.now() >= deadline) {
        await ecs.send(
          new UpdateServiceCommand({ cluster: target.cluster, service: target.service, taskDefinition: state.previousTaskDefinition }),
        );
        await step(`rollout did not settle within ${timeoutS} s; rolled the service back to ${state.previousTaskDefinition}`);
        return {
          ok: false,
          reason: `ECS rollout did not settle within ${timeoutS} s (rolloutState ${ours.rolloutState ?? "?"}${
            ours.rolloutStateReason ? `: ${ours.rolloutStateReason}` : ""
          }); the service was set back to ${state.previousTaskDefinition}`,
        };
      }
      await sleep(this.opts.pollMs, signal);
    }
  }

  /** After a failed rollout, waits (within the deadline) until the circuit breaker's rollback deployment completes. */
  private async awaitPrevious(
    ecs: ECSClient,
    target: EcsTarget,
    previous: string,
    deadline: number,
    step: (l: string) => Promise<void>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (;;) {
      const primary: Deployment | undefined = (await this.describe(ecs, target)).deployments?.find((d) => d.status === "PRIMARY");
      if (primary?.taskDefinition === previous && primary.rolloutState === "COMPLETED") {
        await step(`circuit breaker rolled the service back to ${previous}`);
        return;
      }
      if (Date.now() >= deadline || signal?.aborted) {
        await step(`the service's primary deployment is ${primary?.taskDefinition ?? "?"} (${primary?.rolloutState ?? "?"})`);
        return;
      }
      await sleep(this.opts.pollMs, signal);
    }
  }

  private async describe(ecs: ECSClient, target: EcsTarget): Promise<Service> {
    const out = await ecs.send(new DescribeServicesCommand({ cluster: target.cluster, services: [target.service] }));
    const service = out.services?.[0];
    if (!service) {
      const why = out.failures?.[0]?.reason ?? "not returned";
      throw new PermanentDeployError(`ECS service ${target.service} in cluster ${target.cluster}: ${why}`);
    }
    if (service.status && service.status !== "ACTIVE") {
      throw new PermanentDeployError(`ECS service ${target.service} is ${service.status}, not ACTIVE`);
    }
    return service;
  }
}
