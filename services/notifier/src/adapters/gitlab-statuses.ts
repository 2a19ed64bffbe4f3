import type { Gitlab } from "@gitbeaker/rest";
import { GitlabAnswerError, type OutboundFetch } from "@hoist/shared";
import { z } from "zod";
import { PermanentDeliveryError } from "../domain/errors.js";
import { type CommitStatusUpdate, isRefusedTransition } from "../domain/gitlab-status.js";
import { gitlabCall, gitlabClient } from "./gitlab-call.js";

/** GitLab refused the transition: the status is already at or past this one. */
const ALREADY = Symbol("already");

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
    this.api = gitlabClient(host, token, fetch);
  }

  async set(projectId: number, u: CommitStatusUpdate): Promise<StatusResult> {
    const answer = await gitlabCall(`${u.name} ${u.state}`, async () => {
      try {
        return await this.api.Commits.editStatus(projectId, u.sha, u.state, {
          name: u.name,
          ref: u.ref,
          targetUrl: u.targetUrl,
          description: u.description,
        });
      } catch (err) {
        if (err instanceof GitlabAnswerError && err.answerMatches((text) => isRefusedTransition(err.status, text))) return ALREADY;
        throw err;
      }
    });
    if (answer === ALREADY) return "already";
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
