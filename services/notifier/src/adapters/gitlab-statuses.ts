import { GitbeakerTimeoutError, Gitlab } from "@gitbeaker/rest";
import { GitlabAnswerError, gitlabRequester, type OutboundFetch, outboundRefusal } from "@hoist/shared";
import { z } from "zod";
import { classifyHttpAnswer, networkReason } from "../domain/delivery.js";
import { PermanentDeliveryError, TransientDeliveryError } from "../domain/errors.js";
import { type CommitStatusUpdate, isRefusedTransition } from "../domain/gitlab-status.js";

const GITLAB_TIMEOUT_MS = 15_000;

/** The part of GitLab's commit status answer we rely on; anything else is not GitLab. */
const commitStatusAnswer = z.object({ id: z.number(), status: z.string(), name: z.string() }).loose();

type StatusResult = "set" | "already";

/**
 * Sets commit statuses through @gitbeaker/rest, one HTTP request per call, through the
 * notifier's outbound fetch (gitlabRequester: no redirects, internal addresses refused, GitLab's
 * answer text never copied into a failure). GitLab refusing a transition (a repeated `running`, a
 * `pending` after `running`) means the status is already at or past this one: that counts as
 * done, never as a failure. GitLab does accept any update after a finished status (as a new
 * status), which is why updates behind a finished build or release are filtered out against the
 * records before they get here (isStale).
 */
export class GitlabStatuses {
  private readonly api: InstanceType<typeof Gitlab>;

  constructor(host: string, token: string, fetch: OutboundFetch) {
    this.api = new Gitlab({ host, token, queryTimeout: GITLAB_TIMEOUT_MS, requesterFn: gitlabRequester(fetch) });
  }

  async set(projectId: number, u: CommitStatusUpdate): Promise<StatusResult> {
    let answer: unknown;
    const destination = `GitLab (${u.name} ${u.state})`;
    try {
      answer = await this.api.Commits.editStatus(projectId, u.sha, u.state, {
        name: u.name,
        ref: u.ref,
        targetUrl: u.targetUrl,
        description: u.description,
      });
    } catch (err) {
      if (err instanceof GitlabAnswerError) {
        const { status } = err;
        if (err.answerMatches((text) => isRefusedTransition(status, text))) return "already";
        if (status >= 300 && status < 400) throw new PermanentDeliveryError(err.describe(destination));
        const about = err.fields.length ? `about: ${err.fields.join(", ")}` : "";
        const failure = classifyHttpAnswer(destination, status, about, err.retryAfter);
        if (failure && (status === 401 || status === 403)) {
          throw new PermanentDeliveryError(`${failure.message}: check the GitLab connection's token (it needs the api scope)`);
        }
        if (failure) throw failure;
      }
      const refusal = outboundRefusal(err);
      if (refusal) throw new PermanentDeliveryError(`GitLab ${refusal.message}`);
      if (err instanceof GitbeakerTimeoutError) throw new TransientDeliveryError(`GitLab did not answer within ${GITLAB_TIMEOUT_MS} ms`);
      throw new TransientDeliveryError(`GitLab did not answer (${networkReason(err)})`);
    }
    const parsed = commitStatusAnswer.safeParse(answer);
    if (!parsed.success) {
      const missing = [...new Set(parsed.error.issues.map((i) => i.path.join(".") || "(the answer)"))].join(", ");
      throw new PermanentDeliveryError(
        `GitLab's answer to a commit status is not a commit status (missing or wrong: ${missing}): check the connection URL`,
      );
    }
    return "set";
  }
}
