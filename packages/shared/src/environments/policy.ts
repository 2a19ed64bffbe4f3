import { NotFoundError } from "../records/hash-repo.js";
import type { Records } from "../records/repos.js";
import type { Freeze } from "./freezes.js";

/** What a release meets before it deploys in an environment (gates: approvals, freezes). */
export interface EnvironmentPolicy {
  /** Distinct people who must approve each release (0: none). */
  requiredApprovals: number;
  /** The environment's own deploy freezes. */
  freezes: Freeze[];
  /** The app is linked to a GitLab project: its freeze periods (GET /projects/:id/freeze_periods) also hold deploys. */
  gitlabFreezes: boolean;
}

/**
 * The policy of one environment of an app, read from its records now (a change applies to the next
 * release that meets it). Throws NotFoundError when the app or the environment does not exist.
 */
export async function environmentPolicy(records: Records, app: string, envName: string): Promise<EnvironmentPolicy> {
  const found = await records.environments.withApp(app, envName);
  if (!found) {
    if (!(await records.redis.exists(records.keys.app(app)))) throw new NotFoundError(`app ${app} not found`);
    throw new NotFoundError(`app ${app} has no environment ${envName}`);
  }
  const { app: rec, environment: env } = found;
  return { requiredApprovals: env.requiredApprovals, freezes: env.freezes, gitlabFreezes: rec.gitlab !== undefined };
}
