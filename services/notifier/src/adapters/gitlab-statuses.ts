import { GitbeakerRequestError, GitbeakerTimeoutError, Gitlab } from "@gitbeaker/rest";
import { z } from "zod";
import { answerSnippet, classifyHttpAnswer, networkReason } from "../domain/delivery.js";
import { PermanentDeliveryError, TransientDeliveryError } from "../domain/errors.js";
import { type CommitStatusUpdate, isRefusedTransition } from "../domain/gitlab-status.js";
import { singleRequestRequester } from "./gitlab-requester.js";

export const GITLAB_TIMEOUT_MS = 15_000;

/** The part of GitLab's commit status answer we rely on; anything else is not GitLab. */
const commitStatusAnswer = z.object({ id: z.number(), status: z.string(), name: z.string() }).loose();

export type StatusResult = "set" | "already";

/**
 * Sets commit statuses through @gitbeaker/rest, one HTTP request per call (gitlab-requester.ts).
 * GitLab refusing a transition (a repeated `running`, a `pending` after `running`) means the
 * status is already at or past this one: that counts as done, never as a failure. GitLab does
 * accept any update after a finished status (as a new status), which is why updates behind a
 * finished build or release are filtered out against the records before they get here (isStale).
 */
export class GitlabStatuses {
  private readonly api: InstanceType<typeof Gitlab>;

  constructor(host: string, token: string) {
    this.api = new Gitlab({ host, token, queryTimeout: GITLAB_TIMEOUT_MS, requesterFn: singleRequestRequester });
  }

  async set(projectId: number, u: CommitStatusUpdate): Promise<StatusResult> {
    let answer: unknown;
    try {
      answer = await this.api.Commits.editStatus(projectId, u.sha, u.state, {
        name: u.name,
        ref: u.ref,
        targetUrl: u.targetUrl,
        description: u.description,
      });
    } catch (err) {
      if (err instanceof GitbeakerRequestError && err.cause?.response) {
        const { response, description } = err.cause;
        if (isRefusedTransition(response.status, description)) return "already";
        const failure = classifyHttpAnswer(
          `GitLab (${u.name} ${u.state})`,
          response.status,
          description,
          response.headers.get("retry-after"),
        );
        if (failure && (response.status === 401 || response.status === 403)) {
          throw new PermanentDeliveryError(`${failure.message}: check the GitLab connection's token (it needs the api scope)`);
        }
        if (failure) throw failure;
      }
      if (err instanceof GitbeakerTimeoutError) throw new TransientDeliveryError(`GitLab did not answer within ${GITLAB_TIMEOUT_MS} ms`);
      throw new TransientDeliveryError(`GitLab did not answer (${networkReason(err)})`);
    }
    const parsed = commitStatusAnswer.safeParse(answer);
    if (!parsed.success) {
      throw new PermanentDeliveryError(
        `GitLab's answer to a commit status is not a commit status (${answerSnippet(JSON.stringify(answer) ?? "")}): check the connection URL`,
      );
    }
    return "set";
  }
}
