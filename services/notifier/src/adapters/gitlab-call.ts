import { GitbeakerTimeoutError, Gitlab } from "@gitbeaker/rest";
import { GitlabAnswerError, gitlabRequester, type OutboundFetch, outboundRefusal } from "@hoist/shared";
import { z } from "zod";
import { classifyHttpAnswer, networkReason } from "../domain/delivery.js";
import { PermanentDeliveryError, TransientDeliveryError } from "../domain/errors.js";

const GITLAB_TIMEOUT_MS = 15_000;

/** A gitbeaker client whose every request goes through the notifier's outbound fetch (no redirects, no internal addresses). */
export function gitlabClient(host: string, token: string, fetch: OutboundFetch): InstanceType<typeof Gitlab> {
  return new Gitlab({ host, token, queryTimeout: GITLAB_TIMEOUT_MS, requesterFn: gitlabRequester(fetch) });
}

/**
 * Runs one GitLab call, its failures as delivery errors: permanent for a refused token, a bad
 * request or an answer that is not GitLab's; transient for a timeout, a network failure or GitLab
 * being unwell (5xx, 429 with its Retry-After). `what` names the call in the error.
 */
export async function gitlabCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const destination = `GitLab (${what})`;
  try {
    return await fn();
  } catch (err) {
    if (err instanceof z.ZodError)
      throw new PermanentDeliveryError(`${destination} answered an unexpected shape: check the connection URL`);
    if (err instanceof GitlabAnswerError) {
      const { status } = err;
      if (status >= 300 && status < 400) throw new PermanentDeliveryError(err.describe(destination));
      const failure = classifyHttpAnswer(destination, status, err.fields.length ? `about: ${err.fields.join(", ")}` : "", err.retryAfter);
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
}
