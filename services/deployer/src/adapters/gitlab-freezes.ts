import { Gitlab } from "@gitbeaker/rest";
import { GitlabAnswerError, type GitlabFreezePeriod, gitlabRequester, type OutboundFetch, outboundRefusal } from "@hoist/shared";
import { z } from "zod";
import { PermanentDeployError } from "../domain/target.js";

const GITLAB_TIMEOUT_MS = 10_000;

const periodSchema = z
  .object({
    freeze_start: z.string().min(1),
    freeze_end: z.string().min(1),
    cron_timezone: z.string().min(1),
  })
  .loose();

/**
 * A project's deploy freeze periods (https://docs.gitlab.com/api/freeze_periods/), every page
 * (gitbeaker follows `Link: rel="next"`, 100 a page), through the deployer's outbound fetch.
 * GitLab's answer text never reaches an error (GitlabAnswerError keeps it out). A token GitLab
 * refuses, or a project it does not know, is permanent: retrying would not change it; anything
 * else (no answer, 5xx, 429) is thrown as it is, for the deploy job's retries.
 */
export async function gitlabFreezePeriods(
  conn: { url: string; token: string },
  projectId: number,
  fetch: OutboundFetch,
): Promise<GitlabFreezePeriod[]> {
  const api = new Gitlab({ host: conn.url, token: conn.token, queryTimeout: GITLAB_TIMEOUT_MS, requesterFn: gitlabRequester(fetch) });
  let raw: unknown;
  try {
    raw = await api.FreezePeriods.all(projectId, { perPage: 100 });
  } catch (err) {
    const refusal = outboundRefusal(err);
    if (refusal) throw new PermanentDeployError(`GitLab freeze periods: ${refusal.message}`);
    if (err instanceof GitlabAnswerError && [401, 403, 404].includes(err.status)) {
      const why = err.status === 404 ? "project not found, or the token cannot see it" : "the GitLab connection's token is refused";
      throw new PermanentDeployError(`GitLab freeze periods of project ${projectId}: ${err.message} (${why}); link the app again`);
    }
    throw err;
  }
  const parsed = z.array(periodSchema).safeParse(raw);
  if (!parsed.success) {
    throw new PermanentDeployError(
      `GitLab's freeze periods of project ${projectId} are not a list of freeze periods: check the connection URL`,
    );
  }
  return parsed.data.map((p) => ({ freeze_start: p.freeze_start, freeze_end: p.freeze_end, cron_timezone: p.cron_timezone }));
}
