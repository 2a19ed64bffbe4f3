import { Gitlab } from "@gitbeaker/rest";
import { GitlabAnswerError, gitlabRequester, type OutboundFetch, outboundRefusal } from "@hoist/shared";
import { z } from "zod";
import { PermanentDeployError } from "../domain/target.js";

const GITLAB_TIMEOUT_MS = 10_000;

const memberSchema = z.object({ access_level: z.number().int() }).loose();

/**
 * A user's effective access level on a project, inherited and invited memberships included
 * (`GET /projects/:id/members/all/:user_id`); undefined when GitLab answers 404 (not a member).
 * A token GitLab refuses is permanent; no answer, 5xx and 429 are thrown as they are (retried).
 */
export async function gitlabAccessLevel(
  conn: { url: string; token: string },
  projectId: number,
  userId: number,
  fetch: OutboundFetch,
): Promise<number | undefined> {
  const api = new Gitlab({ host: conn.url, token: conn.token, queryTimeout: GITLAB_TIMEOUT_MS, requesterFn: gitlabRequester(fetch) });
  let raw: unknown;
  try {
    raw = await api.ProjectMembers.show(projectId, userId, { includeInherited: true });
  } catch (err) {
    const refusal = outboundRefusal(err);
    if (refusal) throw new PermanentDeployError(`GitLab project members: ${refusal.message}`);
    if (err instanceof GitlabAnswerError && err.status === 404) return undefined;
    if (err instanceof GitlabAnswerError && (err.status === 401 || err.status === 403))
      throw new PermanentDeployError(
        `GitLab project members of project ${projectId}: ${err.message} (the GitLab connection's token is refused); link the app again`,
      );
    throw err;
  }
  const parsed = memberSchema.safeParse(raw);
  if (!parsed.success)
    throw new PermanentDeployError(`GitLab's member ${userId} of project ${projectId} has no access_level: check the connection URL`);
  return parsed.data.access_level;
}
