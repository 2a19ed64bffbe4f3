import type Docker from "dockerode";
import { appNetworkName, LABELS } from "../../../services/deployer/src/adapters/local-target.js";

/**
 * Removes what the local target made for an app: its containers and its network (each app has a
 * bridge network of its own; leaving them would use up the engine's pool of subnets).
 */
export async function removeLocalApp(docker: Docker, app: string): Promise<void> {
  await removeCaddyRoutes(app);
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

/**
 * Removes the app's port servers from the shared Caddy of the test run (HOIST_CADDY_ADMIN_URL, services-up's),
 * so ended tests leave no listeners and routes behind. A Caddy of a test's own goes away with it.
 */
async function removeCaddyRoutes(app: string): Promise<void> {
  const admin = process.env.HOIST_CADDY_ADMIN_URL;
  if (!admin) return;
  const servers = await fetch(`${admin}/config/apps/http/servers`)
    .then((r) => (r.ok ? (r.json() as Promise<Record<string, unknown> | null>) : null))
    .catch(() => null);
  for (const name of Object.keys(servers ?? {})) {
    if (!name.startsWith(`hoist-${app}.`)) continue;
    // '@' (another environment's unit) as it is: Caddy would look for a server named with "%40".
    await fetch(`${admin}/config/apps/http/servers/${encodeURIComponent(name).replace(/%40/g, "@")}`, { method: "DELETE" }).catch(
      () => undefined,
    );
  }
}
