/**
 * A failure no retry can fix (a bad Dockerfile, a missing ECS service, a destination answering
 * 4xx). A job handler throws it (or a subclass) and `createWorker` fails the job for good, as
 * BullMQ's UnrecoverableError; anything else thrown is taken as transient and retried.
 */
export class PermanentError extends Error {
  override name = "PermanentError";
}

/**
 * Whether `err` is permanent: a PermanentError, or an error classified at run time that says
 * `permanent: true` (a build failure: whether a registry's or git host's answer is final is only
 * known when it comes).
 */
export function isPermanent(err: unknown): err is Error {
  return err instanceof PermanentError || (err instanceof Error && (err as { permanent?: unknown }).permanent === true);
}
