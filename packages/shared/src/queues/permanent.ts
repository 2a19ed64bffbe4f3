/**
 * A failure no retry can fix (a bad Dockerfile, a missing ECS service, a destination answering
 * 4xx). A job handler throws it (or a subclass) and `createWorker` fails the job for good, as
 * BullMQ's UnrecoverableError; anything else thrown is taken as transient and retried.
 */
export class PermanentError extends Error {
  override name = "PermanentError";
}

/** Whether `err` is permanent. A build's own classification (BuildFailure.permanent) becomes a
 * PermanentError in the build job, so this is the one spelling a worker sees. */
export function isPermanent(err: unknown): err is PermanentError {
  return err instanceof PermanentError;
}
