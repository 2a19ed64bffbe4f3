import { type App, PermanentError, type Release } from "@hoist/shared";

/** What a target needs to roll a release out. */
export interface DeployInput {
  app: App;
  release: Release;
  /** The release's environment, opened. */
  env: Record<string, string>;
  /** Step log of the release (the release log). */
  step(line: string): Promise<void>;
  signal?: AbortSignal | undefined;
}

/** ok: the new release serves; not ok: it does not and the previous one serves again. */
export type DeployOutcome = { ok: true } | { ok: false; reason: string };

export interface DeployTarget {
  deploy(input: DeployInput): Promise<DeployOutcome>;
}

/**
 * A failure no retry can fix (bad target config, missing ECS service, an image the task
 * definition has no container for). Anything else thrown by a target is taken as transient.
 */
export class PermanentDeployError extends PermanentError {
  override name = "PermanentDeployError";
}
