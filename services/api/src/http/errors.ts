import { ConflictError, NotFoundError, PayloadError } from "@hoist/shared";
import type { ErrorRequestHandler, RequestHandler } from "express";
import { ZodError } from "zod";
import { GitlabError } from "../adapters/gitlab.js";
import {
  type DomainError,
  ForbiddenError,
  InvalidInputError,
  isRedisUnavailable,
  StateConflictError,
  UnavailableError,
  UnprocessableError,
} from "../domain/errors.js";

/** An error with the HTTP status and machine-readable code the client gets. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function zodMessage(err: ZodError): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

/** The one place a domain refusal becomes an HTTP status; its code and message pass through. */
const DOMAIN_STATUS: [new (...args: never[]) => DomainError, number][] = [
  [InvalidInputError, 400],
  [ForbiddenError, 403],
  [StateConflictError, 409],
  [UnprocessableError, 422],
  [UnavailableError, 503],
];

/** The answer to an error: `{ error: { code, message } }`; internals never reach the client. */
export function errorAnswer(err: unknown): { status: number; body: { error: { code: string; message: string } } } {
  let status = 500;
  let code = "internal";
  let message = "internal error; see the API's log";
  const domainStatus = DOMAIN_STATUS.find(([kind]) => err instanceof kind)?.[1];
  if (err instanceof HttpError) {
    ({ status, code, message } = err);
  } else if (domainStatus !== undefined) {
    status = domainStatus;
    ({ code, message } = err as DomainError);
  } else if (err instanceof ZodError) {
    status = 400;
    code = "invalid_request";
    message = zodMessage(err);
  } else if (err instanceof PayloadError) {
    status = 400;
    code = "invalid_request";
    message = err.message;
  } else if (err instanceof NotFoundError) {
    status = 404;
    code = "not_found";
    message = err.message;
  } else if (err instanceof ConflictError) {
    status = 409;
    code = "conflict";
    message = err.message;
  } else if (err instanceof GitlabError) {
    // GitLab refusing (bad token, no access, validation) or redirecting (a URL that is not the
    // instance's own) is the caller's to fix; GitLab down is not.
    const refused = err.status !== undefined && err.status >= 300 && err.status < 500;
    status = refused ? 400 : 502;
    code = refused ? "gitlab_rejected" : "gitlab_unavailable";
    message = err.message;
  } else if (isRedisUnavailable(err)) {
    status = 503;
    code = "unavailable";
    message = "Redis is unreachable; nothing was stored, try again shortly";
  } else if ((err as { type?: string }).type === "entity.too.large") {
    status = 413;
    code = "too_large";
    message = "request body too large";
  } else if ((err as { type?: string }).type === "entity.parse.failed") {
    status = 400;
    code = "invalid_json";
    message = "request body is not valid JSON";
  }
  return { status, body: { error: { code, message } } };
}

/** Every error answers `{ error: { code, message } }`; server-side failures are logged. */
export function errorHandler(log: { error(obj: object, msg: string): void }): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const { status, body } = errorAnswer(err);
    if (status >= 500) log.error({ err: err instanceof Error ? err.message : String(err), status }, "request failed");
    if (res.headersSent) return;
    res.status(status).json(body);
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json({ error: { code: "not_found", message: `no route ${req.method} ${req.path}` } });
};
