import type { ContainerDefinition, KeyValuePair, RegisterTaskDefinitionCommandInput, TaskDefinition } from "@aws-sdk/client-ecs";
import type { Image } from "@hoist/shared";
import { PermanentDeployError } from "./target.js";

/** Fields of a described task definition that RegisterTaskDefinition accepts back as they are. */
const COPIED = [
  "family",
  "taskRoleArn",
  "executionRoleArn",
  "networkMode",
  "volumes",
  "placementConstraints",
  "requiresCompatibilities",
  "cpu",
  "memory",
  "pidMode",
  "ipcMode",
  "proxyConfiguration",
  "inferenceAccelerators",
  "ephemeralStorage",
  "runtimePlatform",
  "enableFaultInjection",
] as const satisfies readonly (keyof TaskDefinition & keyof RegisterTaskDefinitionCommandInput)[];

/** Sets `env` on a container's environment: same names replaced in place, new ones appended in name order. */
export function mergeEnvironment(current: KeyValuePair[] | undefined, env: Record<string, string>): KeyValuePair[] {
  const out = (current ?? []).map((kv) => (kv.name !== undefined && kv.name in env ? { name: kv.name, value: env[kv.name] } : kv));
  const present = new Set(out.map((kv) => kv.name));
  for (const name of Object.keys(env).sort()) if (!present.has(name)) out.push({ name, value: env[name] });
  return out;
}

/**
 * The next revision of a service's task definition: everything as it is, except each released
 * service's container gets the release's image and environment. `containers` maps a compose
 * service to its container name (default: the same name).
 */
export function nextTaskDefinition(
  current: TaskDefinition,
  images: Image[],
  env: Record<string, string>,
  containers: Record<string, string> = {},
): RegisterTaskDefinitionCommandInput {
  if (!current.family || !current.containerDefinitions) {
    throw new PermanentDeployError(`ECS task definition ${current.taskDefinitionArn ?? "?"} has no family or container definitions`);
  }
  const defs: ContainerDefinition[] = current.containerDefinitions.map((c) => ({ ...c }));
  for (const image of images) {
    const name = containers[image.service] ?? image.service;
    const def = defs.find((c) => c.name === name);
    if (!def) {
      const names = defs.map((c) => c.name).join(", ");
      throw new PermanentDeployError(
        `ECS task definition ${current.family} has no container named "${name}" for service "${image.service}" (it has: ${names}); map it with target.containers.${image.service}`,
      );
    }
    def.image = image.tag;
    def.environment = mergeEnvironment(def.environment, env);
  }
  const input: RegisterTaskDefinitionCommandInput = { family: current.family, containerDefinitions: defs };
  const writable = input as unknown as Record<string, unknown>;
  for (const field of COPIED) {
    const value = current[field];
    if (value !== undefined) writable[field] = value;
  }
  return input;
}
