import type { Principal, Role } from "../auth/roles.js";

/** A line of a build's log as the log stream holds it. */
export interface LogEntry {
  ts: string;
  step: string;
  line: string;
}

/**
 * What the dashboard does through the same domain code as the REST API, handed in at mount time
 * so that pages and API can never disagree about what "cancel" or "rollback" means.
 */
export interface DashboardPorts {
  cancelBuild(buildId: string): Promise<unknown>;
  promoteRelease(app: string, releaseId: string): Promise<unknown>;
  /** The signed-in person's approval of a release awaiting approval (403 for a session that is no person). */
  approveRelease(app: string, env: string, releaseId: string, principal: Principal): Promise<unknown>;
  rollback(app: string): Promise<unknown>;
  /** Promotes a release into an environment, as `POST /v1/apps/:app/environments/:env/promote` does, with the caller's role on the app. */
  promoteToEnvironment(app: string, env: string, releaseId: string, role: Role | undefined): Promise<unknown>;
  readBuildLog(buildId: string): Promise<LogEntry[]>;
  /** Calls `onEntry` for every line, past and new, until the build ends or `signal` aborts. */
  followBuildLog(buildId: string, onEntry: (entry: LogEntry) => void, signal: AbortSignal): Promise<void>;
}
