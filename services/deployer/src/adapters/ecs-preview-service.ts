import {
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  type ECSClient,
  type Service,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import type { App } from "@hoist/shared";
import { PermanentDeployError } from "../domain/target.js";

type EcsTarget = Extract<App["target"], { kind: "ecs" }>;
type PreviewEcsTarget = EcsTarget & { previewOf: string };

/** A review app's service name ends in `-mr-<iid>`: the only kind Hoist creates or deletes. */
const PREVIEW_SERVICE = /-mr-\d+$/;

function assertPreview(target: EcsTarget): asserts target is PreviewEcsTarget {
  if (!target.previewOf || !PREVIEW_SERVICE.test(target.service) || target.service === target.previewOf) {
    throw new PermanentDeployError(
      `ECS service ${target.service} is not a review app's service (<base>-mr-<iid> with previewOf naming its base): Hoist creates and deletes only those`,
    );
  }
}

async function describeOne(ecs: ECSClient, cluster: string, service: string): Promise<Service | undefined> {
  const out = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
  return out.services?.[0];
}

/**
 * The review app's service, created from its base service when it does not exist (or was deleted
 * and is INACTIVE): the base's current task definition, launch type, network and deployment
 * settings, one task, the circuit breaker on. A service still draining after a teardown cannot
 * be created again yet (ECS refuses the name): that is a transient error, retried.
 */
export async function ensurePreviewService(ecs: ECSClient, target: EcsTarget, step: (line: string) => Promise<void>): Promise<Service> {
  assertPreview(target);
  const current = await describeOne(ecs, target.cluster, target.service);
  if (current?.status === "ACTIVE") return current;
  if (current?.status === "DRAINING")
    throw new Error(`ECS service ${target.service} is still draining after its last teardown; trying again`);
  const base = await describeOne(ecs, target.cluster, target.previewOf);
  if (base?.status !== "ACTIVE" || !base.taskDefinition) {
    throw new PermanentDeployError(
      `the review app's base ECS service ${target.previewOf} in ${target.cluster} is not there (or not ACTIVE)`,
    );
  }
  const created = await ecs.send(
    new CreateServiceCommand({
      cluster: target.cluster,
      serviceName: target.service,
      taskDefinition: base.taskDefinition,
      desiredCount: 1,
      ...(base.capacityProviderStrategy?.length
        ? { capacityProviderStrategy: base.capacityProviderStrategy }
        : base.launchType
          ? { launchType: base.launchType }
          : {}),
      ...(base.platformVersion ? { platformVersion: base.platformVersion } : {}),
      ...(base.networkConfiguration ? { networkConfiguration: base.networkConfiguration } : {}),
      deploymentConfiguration: { ...base.deploymentConfiguration, deploymentCircuitBreaker: { enable: true, rollback: true } },
      tags: [{ key: "hoist:preview-of", value: target.previewOf }],
    }),
  );
  if (!created.service) throw new Error("CreateService answered without a service");
  await step(`created review app service ${target.service} from ${target.previewOf} (${base.taskDefinition}, 1 task)`);
  return created.service;
}

/**
 * Deletes the review app's service: scaled to 0, then DeleteService. Missing, draining or
 * inactive is done already, so a teardown run again after a crash is a no-op. Says what it did.
 */
export async function removePreviewService(ecs: ECSClient, target: EcsTarget): Promise<string> {
  assertPreview(target);
  const current = await describeOne(ecs, target.cluster, target.service);
  if (current?.status !== "ACTIVE") return `ECS service ${target.service} is gone already (${current?.status ?? "MISSING"})`;
  if ((current.desiredCount ?? 0) > 0) {
    await ecs.send(new UpdateServiceCommand({ cluster: target.cluster, service: target.service, desiredCount: 0 }));
  }
  await ecs.send(new DeleteServiceCommand({ cluster: target.cluster, service: target.service }));
  return `ECS service ${target.service} scaled to 0 and deleted`;
}
