import type Docker from "dockerode";
import { appNetworkName, LABELS } from "../../../services/deployer/src/adapters/local-target.js";

/**
 * Removes what the local target made for an app: its containers and its network (each app has a
 * bridge network of its own; leaving them would use up the engine's pool of subnets).
 */
export async function removeLocalApp(docker: Docker, app: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${app}`] } }).catch(() => []);
  for (const c of containers) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {});
  }
  await docker
    .getNetwork(appNetworkName(app))
    .remove()
    .catch(() => {});
}
