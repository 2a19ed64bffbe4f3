import {
  type BuildStatus,
  buildLogKey,
  ConflictError,
  followLog,
  idSchema,
  NotFoundError,
  readLog,
  type LogEntry as StreamEntry,
} from "@hoist/shared";
import { type ApiDeps, buildPorts } from "../deps.js";
import { approveRelease } from "../domain/approvals.js";
import { cancelBuild } from "../domain/builds.js";
import { promoteToEnvironment, requireEnvironment } from "../domain/environments.js";
import { promoteRelease, rollbackApp } from "../domain/releases.js";
import { HttpError } from "../http/errors.js";
import { NOT_A_PERSON, personOf } from "../http/routes/approvals.js";
import type { DashboardPorts, LogEntry } from "./ports.js";

const finished: readonly BuildStatus[] = ["succeeded", "failed", "canceled"];
const asLine = (e: StreamEntry): LogEntry | undefined => (e.kind === "line" ? { ts: e.time, step: e.step, line: e.line } : undefined);

/** The dashboard's actions and log access, through the same domain code as the REST API. */
export function dashboardPorts(deps: ApiDeps): DashboardPorts {
  const prefix = deps.config.HOIST_QUEUE_PREFIX;
  const buildDeps = buildPorts(deps);
  return {
    async cancelBuild(buildId) {
      const out = await cancelBuild(buildDeps, buildId, "user");
      if (!out.ok && out.reason === "missing") throw new NotFoundError(`build ${buildId} not found`);
      if (!out.ok) throw new ConflictError(`build ${buildId} is already ${out.current}`);
      return out.build;
    },
    promoteRelease: (app, releaseId) => promoteRelease(deps, app, releaseId),
    async approveRelease(app, env, releaseId, principal) {
      const person = await personOf(deps, principal);
      if (!person) throw new HttpError(403, "person_required", NOT_A_PERSON);
      return approveRelease(deps, app, env, releaseId, { ...person, via: "dashboard" });
    },
    rollback: (app) => rollbackApp(deps, app),
    async promoteToEnvironment(appName, envName, releaseId, role) {
      const app = await deps.records.apps.require(appName);
      const env = await requireEnvironment(deps.records, app, envName);
      return promoteToEnvironment(deps, app, env, { releaseId: idSchema.parse(releaseId) }, role);
    },
    async readBuildLog(buildId) {
      return (await readLog(deps.redis, buildLogKey(prefix, buildId))).map(asLine).filter((e): e is LogEntry => e !== undefined);
    },
    async followBuildLog(buildId, onEntry, signal) {
      // XREAD BLOCK holds its connection: one per follower, closed when it leaves.
      const blocking = deps.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: 1 });
      try {
        for await (const e of followLog(blocking, buildLogKey(prefix, buildId), {
          signal,
          isOver: async () => {
            const cur = await deps.records.builds.get(buildId);
            return !cur || finished.includes(cur.status);
          },
        })) {
          const line = asLine(e);
          if (line) onEntry(line);
        }
      } finally {
        blocking.disconnect();
      }
    },
  };
}
