import type { App } from "../records/schemas.js";

/**
 * The URL a preview (or any environment on a local target) answers on: the first host of the
 * first service, by service name, that has hosts (a wildcard host names no single site and is
 * passed over); `https://` when that service has `tls` set, `http://` otherwise; with the port of
 * Caddy's host listener (the deployer's HOIST_CADDY_HOSTS_LISTEN) unless it is the scheme's own.
 * Undefined for a target without such a host (an ECS target, a local one serving only ports).
 */
export function environmentUrl(target: App["target"], listenPort?: number): string | undefined {
  if (target.kind !== "local") return undefined;
  for (const name of Object.keys(target.services).sort()) {
    const svc = target.services[name];
    const host = svc?.hosts?.find((h) => !h.startsWith("*."));
    if (!svc || !host) continue;
    const scheme = svc.tls ? "https" : "http";
    const port = listenPort === undefined || listenPort === (scheme === "https" ? 443 : 80) ? "" : `:${listenPort}`;
    return `${scheme}://${host}${port}`;
  }
  return undefined;
}

const PREVIEW_NAME = /^mr-([1-9]\d{0,9})$/;

/** The merge request number of a preview environment's name (`mr-42` → 42); undefined for any other name. */
export function previewIidOf(environment: string): number | undefined {
  const m = PREVIEW_NAME.exec(environment);
  return m ? Number(m[1]) : undefined;
}

/** The GitLab environment of merge request `!iid`'s preview (GitLab groups `review/*` as review apps). */
export function gitlabReviewEnvironment(iid: number): string {
  return `review/mr-${iid}`;
}
