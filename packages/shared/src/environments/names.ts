import { z } from "zod";

/** The environment every app has: the app record's own target, env and releases (as before environments). */
export const PRODUCTION = "production";

/** Environment names: lowercase, a letter first, at most 31 characters (`staging`, `eu-prod`). */
export const environmentNameSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,30}$/,
    "an environment name is 1 to 31 lowercase letters, digits and '-', starting with a letter (e.g. staging)",
  );

/**
 * What the deployer deploys and locks: one environment of one app. Production is the app's own name,
 * so an app's production keeps every key, container label and Caddy route it had before environments;
 * another environment is `<app>@<env>` ('@' is in neither an app nor an environment name, so units
 * never collide). It names the environment's deploy lock and live pointer (records/keys.ts), the
 * sealing context of its variables, and its containers and Caddy routes on a local target.
 */
export function deployUnit(app: string, environment: string = PRODUCTION): string {
  return environment === PRODUCTION ? app : `${app}@${environment}`;
}

/** The app and environment of a deploy unit. */
export function parseDeployUnit(unit: string): { app: string; environment: string } {
  const at = unit.indexOf("@");
  return at < 0 ? { app: unit, environment: PRODUCTION } : { app: unit.slice(0, at), environment: unit.slice(at + 1) };
}

/** Environment names `mr-<iid>` are previews' (docs/previews.md): Hoist makes them, a person cannot. */
const PREVIEW_ENVIRONMENT = /^mr-\d+$/;

/** The preview environment of merge request `!iid`. */
export function previewEnvironment(iid: number): string {
  return `mr-${iid}`;
}

/** Whether an environment name is reserved for a merge request's preview. */
export function isPreviewEnvironment(name: string): boolean {
  return PREVIEW_ENVIRONMENT.test(name);
}
