import { PermanentError } from "@hoist/shared";

/**
 * How a delivery attempt ended when it did not succeed: permanent → failed for good by
 * createWorker (stays on the failed list), transient → thrown for a retry, honouring `retryAfterMs` when the destination asked for a pause.
 */
export class PermanentDeliveryError extends PermanentError {
  override name = "PermanentDeliveryError";
}

export class TransientDeliveryError extends Error {
  override name = "TransientDeliveryError";
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
