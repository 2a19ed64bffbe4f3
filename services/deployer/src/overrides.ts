import type { DeployPorts } from "./domain/deploy.js";

/**
 * What a harness may replace when it boots this service through its own main.ts: only the
 * rollout target (bench:pipeline times Hoist's hand-offs, not containers) and the gates' clock.
 * Production sets nothing.
 * Set before main.js is imported; main.ts reads it once, when it composes the ports.
 */
interface DeployerOverrides {
  targetFor?: DeployPorts["targetFor"];
  /** The gates' clock: a chaos test runs a deployer whose "now" is inside a freeze. */
  now?: () => number;
}

const overrides: DeployerOverrides = {};

export function overrideDeployer(o: DeployerOverrides): void {
  Object.assign(overrides, o);
}

export const deployerOverrides = (): Readonly<DeployerOverrides> => overrides;
