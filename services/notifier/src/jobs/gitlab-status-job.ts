import { type Logger, type NotifyPayload, secretContexts, UnrecoverableError } from "@hoist/shared";
import { GitlabDeployments } from "../adapters/gitlab-deployments.js";
import { GitlabStatuses } from "../adapters/gitlab-statuses.js";
import { deploymentFor } from "../domain/gitlab-deployment.js";
import { commitStatusesFor, isStale } from "../domain/gitlab-status.js";
import type { NotifierDeps } from "./deps.js";
import { loadContext } from "./load-context.js";

/**
 * Sets the event's commit statuses in order, then (a release's rollout) its GitLab deployment.
 * Each is idempotent at GitLab (a repeat is refused as a transition and counts as done), so a
 * retry simply sends them all again.
 */
export async function gitlabStatusJob(deps: NotifierDeps, payload: NotifyPayload, log: Logger): Promise<string> {
  const loaded = await loadContext(deps, payload, { releaseOfBuild: true });
  if ("skip" in loaded) return loaded.skip;
  const { ctx } = loaded;
  const gitlab = ctx.app.gitlab;
  if (!gitlab) return "skipped: app has no GitLab connection";
  const conn = await deps.records.gitlabConnections.get(gitlab.connectionId);
  if (!conn)
    throw new UnrecoverableError(`GitLab connection ${gitlab.connectionId} of app ${ctx.app.name} not found: connect the app again`);
  const token = (await deps.secrets.open(conn.token, secretContexts.gitlabToken(conn.id), ctx.app.name)).toString("utf8");
  const client = new GitlabStatuses(conn.url, token, deps.fetch);
  const done: string[] = [];
  for (const update of commitStatusesFor(ctx)) {
    const label = `${update.name}=${update.state}`;
    if (isStale(update, ctx)) {
      done.push(`${label} stale`);
      continue;
    }
    const result = await client.set(gitlab.projectId, update);
    done.push(result === "set" ? label : `${label} already`);
    log.info({ event: payload.event, status: update.name, state: update.state, result }, "commit status");
  }
  const deployment = deploymentFor(ctx);
  if (deployment) {
    const deployments = new GitlabDeployments(conn.url, token, deps.fetch, {
      redis: deps.records.redis,
      keyOf: deps.records.keys.gitlabDeployment,
    });
    const result = await deployments.set(gitlab.projectId, deployment.subject, deployment.status);
    done.push(`deployment ${deployment.subject.environment}=${deployment.status}${result === "already" ? " already" : ""}`);
    log.info({ event: payload.event, environment: deployment.subject.environment, state: deployment.status, result }, "GitLab deployment");
  }
  return done.join(", ");
}
