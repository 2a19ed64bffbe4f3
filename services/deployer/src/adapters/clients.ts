import { ECSClient, type ECSClientConfig } from "@aws-sdk/client-ecs";
import Docker from "dockerode";

/** The Docker Engine API client; with no options docker-modem reads DOCKER_HOST (e.g. podman's socket). */
export function createDocker(opts?: Docker.DockerOptions): Docker {
  return new Docker(opts);
}

/**
 * ECS clients per region, made once. Region and endpoint come from the SDK's standard
 * environment (AWS_REGION, AWS_ENDPOINT_URL_ECS) unless the target names a region or `base` sets them.
 */
export function ecsClientFactory(base: ECSClientConfig = {}): (region: string | undefined) => ECSClient {
  const clients = new Map<string, ECSClient>();
  return (region) => {
    const key = region ?? "";
    let client = clients.get(key);
    if (!client) {
      client = new ECSClient({ ...base, ...(region ? { region } : {}) });
      clients.set(key, client);
    }
    return client;
  };
}
