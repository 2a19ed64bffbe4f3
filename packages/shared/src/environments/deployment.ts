import type { Environment } from "../records/environments.js";
import type { App } from "../records/schemas.js";
import { deployUnit, PRODUCTION } from "./names.js";

/**
 * The app as one of its environments deploys it: named by the environment's deploy unit (so a
 * local target's containers, network and Caddy routes of staging never meet production's), with the
 * environment's target and variables. Production's is the app itself, as before environments (its
 * `scale` included; other environments run their target's `replicas`).
 */
export function deploymentOf(app: App, environment: Environment): App {
  if (environment.name === PRODUCTION) return app;
  const { scale: _scale, env: _env, ...rest } = app;
  return {
    ...rest,
    name: deployUnit(app.name, environment.name),
    target: environment.target,
    ...(environment.env ? { env: environment.env } : {}),
  };
}
