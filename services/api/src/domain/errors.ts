/**
 * What the API's domain refuses, as errors the HTTP layer maps to a status in one place
 * (http/errors.ts). Each carries the stable machine-readable code clients see.
 */
export abstract class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The request names something the domain cannot take as it is (a bad repository, a malformed push). */
export class InvalidInputError extends DomainError {
  override name = "InvalidInputError";
}

/** The record is not in a state that allows this (already live, being deployed, nothing to roll back to). */
export class StateConflictError extends DomainError {
  override name = "StateConflictError";
}

/** The caller's role allows the route but not this case of it (promoting into a protected environment). */
export class ForbiddenError extends DomainError {
  override name = "ForbiddenError";
  constructor(message: string) {
    super("forbidden", message);
  }
}

/** Well-formed, but it cannot be carried out against the outside world (a ref git cannot resolve). */
export class UnprocessableError extends DomainError {
  override name = "UnprocessableError";
}

/** Redis (or the queue behind it) is away: nothing usable was stored, the caller tries again later. */
export class UnavailableError extends DomainError {
  override name = "UnavailableError";
  constructor(message: string) {
    super("unavailable", message);
  }
}

/**
 * True for errors that mean Redis is unreachable (the producer connection fails fast), or a Redis
 * Cluster has no master for the slot yet (CLUSTERDOWN, TRYAGAIN, redirections or the slot map
 * exhausted while a replica takes over).
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return /Stream isn't writeable|enableOfflineQueue|Connection is closed|ECONNREFUSED|Command timed out|connect ETIMEDOUT|max retries per request|^CLUSTERDOWN|^TRYAGAIN|Too many Cluster redirections|Failed to refresh slots cache/i.test(
    err.message,
  );
}
