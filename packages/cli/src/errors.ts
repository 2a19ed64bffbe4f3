/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failed: 1, usage: 2, api: 3 } as const;

/** Wrong words on the command line: exit 2 with the usage hint. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The API answered an error, or could not be reached: exit 3. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A build or deploy that ended in failure: exit 1. */
export class PipelineFailed extends Error {
  override name = "PipelineFailed";
}
