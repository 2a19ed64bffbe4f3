/** One service of one app's environment: what a Hoist route serves. */
export interface ServiceRef {
  /** The deploy unit: the app's name for production, `<app>@<env>` for another environment. */
  app: string;
  service: string;
}

/**
 * `@id` tags (and the port server's key) of what Hoist owns in Caddy's config. App names are DNS labels
 * (no '.'), as are environment names after a '@' (`hoist-web@staging.web`), so the first '.' after
 * "hoist-" ends the deploy unit; '~' is in neither app nor service names, so the
 * suffixes of the host route and its TLS policy never collide with a port route.
 */
export const HOSTS_SERVER = "hoist-hosts";

export function portRouteId(ref: ServiceRef): string {
  return `hoist-${ref.app}.${ref.service}`;
}

export function hostRouteId(ref: ServiceRef): string {
  return `${portRouteId(ref)}~hosts`;
}

export function tlsPolicyId(ref: ServiceRef): string {
  return `${portRouteId(ref)}~tls`;
}

const ID = /^hoist-([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:@[a-z][a-z0-9-]{0,30})?)\.([a-zA-Z0-9][a-zA-Z0-9_.-]*?)(~hosts)?$/;

/** The service and kind of a Hoist route id; undefined for anything Hoist does not own. */
export function parseRouteId(id: string): (ServiceRef & { kind: "port" | "hosts" }) | undefined {
  const m = ID.exec(id);
  if (!m) return undefined;
  return { app: m[1] as string, service: m[2] as string, kind: m[3] ? "hosts" : "port" };
}
