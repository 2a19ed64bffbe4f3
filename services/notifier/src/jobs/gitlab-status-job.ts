import type { EventNotifyPayload, Logger } from "@hoist/shared";
import { GitlabDeployments } from "../adapters/gitlab-deployments.js";
import { GitlabMergeRequests } from "../adapters/gitlab-merge-requests.js";
import { GitlabStatuses } from "../adapters/gitlab-statuses.js";
import { buildUrl, eventTime, type NotifyContext } from "../domain/context.js";
import { deploymentFor } from "../domain/gitlab-deployment.js";
import { commitStatusesFor, isStale } from "../domain/gitlab-status.js";
import type { PreviewNoteState } from "../domain/preview-note.js";
import type { NotifierDeps } from "./deps.js";
import { gitlabAccess } from "./gitlab-access.js";
import { loadContext } from "./load-context.js";
import { writePreviewNote } from "./preview-note.js";

/**
 * Sets the event's commit statuses in order, then (a release's rollout) its GitLab deployment,
 * then (a preview's release) the note on its merge request. Each is idempotent at GitLab (a
 * repeat is refused as a transition and counts as done; the note is edited in place), so a retry
 * simply sends them all again.
 */
export async function gitlabStatusJob(deps: NotifierDeps, payload: EventNotifyPayload, log: Logger): Promise<string> {
  const loaded = await loadContext(deps, payload, { releaseOfBuild: true });
  if ("skip" in loaded) return loaded.skip;
  const { ctx } = loaded;
  const access = await gitlabAccess(deps, ctx.app);
  if (!access) return "skipped: app has no GitLab connection";
  const client = new GitlabStatuses(access.url, access.token, deps.fetch);
  const done: string[] = [];
  for (const update of commitStatusesFor(ctx)) {
    const label = `${update.name}=${update.state}`;
    if (isStale(update, ctx)) {
      done.push(`${label} stale`);
      continue;
    }
    const result = await client.set(access.projectId, update);
    done.push(result === "set" ? label : `${label} already`);
    log.info({ event: payload.event, status: update.name, state: update.state, result }, "commit status");
  }
  const deployment = deploymentFor(ctx);
  if (deployment) {
    const deployments = new GitlabDeployments(access.url, access.token, deps.fetch, {
      redis: deps.records.redis,
      keyOf: deps.records.keys.gitlabDeployment,
    });
    const result = await deployments.set(access.projectId, deployment.subject, deployment.status);
    done.push(`deployment ${deployment.subject.environment}=${deployment.status}${result === "already" ? " already" : ""}`);
    log.info({ event: payload.event, environment: deployment.subject.environment, state: deployment.status, result }, "GitLab deployment");
  }
  const note = previewNote(ctx);
  if (note && ctx.preview) {
    const gitlab = new GitlabMergeRequests(access.url, access.token, deps.fetch);
    const target = { gitlab, projectId: access.projectId, app: ctx.app.name, iid: ctx.preview.iid };
    const result = await writePreviewNote(deps, target, eventTime(ctx), note);
    done.push(`note !${ctx.preview.iid} ${result}`);
    log.info({ event: payload.event, iid: ctx.preview.iid, result }, "preview note on the merge request");
  }
  return done.join(", ");
}

/** What a preview's release event (or its build's failure) puts in its merge request's note, if anything. */
function previewNote(ctx: NotifyContext): PreviewNoteState | undefined {
  const { release, build, event, preview } = ctx;
  if (!preview) return undefined;
  if (event === "build.failed" && !release)
    return {
      kind: "build-failed",
      app: ctx.app.name,
      url: preview.url,
      sha: build.sha,
      title: build.commit?.title,
      buildNumber: build.number,
      buildUrl: buildUrl(ctx),
      reason: build.reason,
    };
  if (!release) return undefined;
  if (event !== "release.deploying" && event !== "release.live" && event !== "release.failed" && event !== "release.rolled_back")
    return undefined;
  return {
    kind: "release",
    app: ctx.app.name,
    event,
    url: preview.url,
    sha: build.sha,
    title: build.commit?.title,
    buildNumber: build.number,
    buildUrl: buildUrl(ctx),
    reason: release.reason,
  };
}
