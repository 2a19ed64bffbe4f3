/**
 * How a delivery attempt ended when it did not succeed. Handlers translate these into BullMQ's
 * terms: permanent → UnrecoverableError (stays on the failed list), transient → thrown for a
 * retry, honouring `retryAfterMs` when the destination asked for a pause.
 */
export class PermanentDeliveryError extends Error {
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
