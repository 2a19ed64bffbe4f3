import { type JobContext, SecretError, UnrecoverableError } from "@hoist/shared";
import { DelayedError } from "bullmq";
import { TransientDeliveryError } from "../domain/errors.js";

/**
 * Pauses asked for with Retry-After do not use up an attempt (the destination is fine, just
 * busy), but every pick-up counts in `attemptsStarted`; past this multiple of the job's attempts
 * the pause becomes an ordinary failed attempt, so a destination answering 429 forever still
 * ends on the failed list.
 */
const DEFERRALS_PER_ATTEMPT = 2;

/**
 * Turns a failed delivery into BullMQ's terms (a PermanentDeliveryError is failed for good by
 * createWorker, with the destination's answer); Retry-After → the job is delayed by exactly that long; anything else is
 * rethrown for the queue's exponential backoff with jitter.
 */
export async function settleFailure(err: unknown, { job, token, log }: JobContext): Promise<never> {
  if (err instanceof SecretError) {
    throw new UnrecoverableError(`cannot open a sealed secret (${err.message}): set the app's notification settings again`);
  }
  if (err instanceof TransientDeliveryError && err.retryAfterMs !== undefined && token) {
    const attempts = job.opts.attempts ?? 1;
    if (job.attemptsStarted < attempts * DEFERRALS_PER_ATTEMPT) {
      log.warn({ err: err.message, retryAfterMs: err.retryAfterMs }, "destination asked to retry later; job delayed");
      await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
      throw new DelayedError();
    }
  }
  throw err;
}
