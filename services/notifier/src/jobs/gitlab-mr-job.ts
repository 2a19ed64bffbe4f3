import { type GitlabMrNotice, gitlabReviewEnvironment, type Logger } from "@hoist/shared";
import { GitlabMergeRequests } from "../adapters/gitlab-merge-requests.js";
import type { NotifierDeps } from "./deps.js";
import { gitlabAccess } from "./gitlab-access.js";
import { writePreviewNote } from "./preview-note.js";

/**
 * A preview notice no release event carries: refused (the note says why nothing was built) or
 * stopped (the note says so and why, and the GitLab environment `review/mr-<iid>` is stopped).
 * A retry edits the same note and finds the environment stopped already. The note's state dates
 * from when the notice was queued (not from a retry), so a retry hours later never covers a
 * preview deployed since.
 */
export async function gitlabMrJob(deps: NotifierDeps, payload: GitlabMrNotice, log: Logger, queuedAt: Date): Promise<string> {
  const app = await deps.records.apps.get(payload.app);
  if (!app) return `skipped: app ${payload.app} no longer exists`;
  const access = await gitlabAccess(deps, app);
  if (!access) return "skipped: app has no GitLab connection";
  const gitlab = new GitlabMergeRequests(access.url, access.token, deps.fetch);
  const target = { gitlab, projectId: access.projectId, app: app.name, iid: payload.iid };
  const kind = payload.event === "preview.refused" ? ("refused" as const) : ("stopped" as const);
  const note = await writePreviewNote(deps, target, queuedAt.toISOString(), { kind, app: app.name, reason: payload.reason });
  const done = [`note ${note}`];
  if (payload.event === "preview.stopped") {
    const env = gitlabReviewEnvironment(payload.iid);
    const stopped = await gitlab.stopEnvironment(access.projectId, env);
    done.push(`environment ${env} ${stopped}`);
  }
  log.info({ event: payload.event, app: app.name, iid: payload.iid, result: done.join(", ") }, "preview notice on the merge request");
  return done.join(", ");
}
