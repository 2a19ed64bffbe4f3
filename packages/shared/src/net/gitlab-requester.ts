import { createRequesterFn, type FormattedResponse, GitbeakerTimeoutError, type RequestHandlerFn } from "@gitbeaker/requester-utils";
import { type OutboundFetch, outboundRefusal } from "./outbound.js";

/** At most this many of GitLab's error field names go into a message. */
const MAX_FIELDS = 10;

function answered(status: number, fields: string[], redirectHost: string | undefined): string {
  if (status >= 300 && status < 400) {
    return `answered ${status}, a redirect${redirectHost ? ` to ${redirectHost}` : ""}, which is not followed: use the GitLab instance's final URL`;
  }
  return `answered ${status}${fields.length ? ` (about: ${fields.join(", ")})` : ""}`;
}

/**
 * GitLab answered with a status other than 2xx. It carries the status, the Retry-After header and
 * the *names* of the fields GitLab's validation error names (`{"message": {"url": [...]}}` →
 * `url`), never GitLab's text: an answer body can hold anything the URL's server chose to say,
 * and errors end up in API answers, logs and failed jobs. Code that must recognise one of
 * GitLab's messages asks `answerMatches`, which does not hand the text out.
 */
export class GitlabAnswerError extends Error {
  override name = "GitlabAnswerError";
  readonly #answer: string;

  constructor(
    readonly status: number,
    readonly fields: string[],
    readonly retryAfter: string | null,
    /** For a 3xx: the host the Location header names (the redirect is not followed). */
    readonly redirectHost: string | undefined,
    answer: string,
  ) {
    super(`GitLab ${answered(status, fields, redirectHost)}`);
    this.#answer = answer;
  }

  /** The message with another subject: `GitLab (hoist/build pending) answered 404`. */
  describe(subject: string): string {
    return `${subject} ${answered(this.status, this.fields, this.redirectHost)}`;
  }

  /** Whether GitLab's message (its `message` or `error` string) passes `test`. */
  answerMatches(test: (text: string) => boolean): boolean {
    return test(this.#answer);
  }
}

/** GitLab's error message as a string, and the names of the fields a validation error lists. */
function readAnswer(text: string, json: boolean): { message: string; fields: string[] } {
  if (!json) return { message: text, fields: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { message: text, fields: [] };
  }
  const said = (parsed as { error?: unknown; message?: unknown } | null)?.error ?? (parsed as { message?: unknown } | null)?.message;
  if (typeof said === "string") return { message: said, fields: [] };
  const fields =
    said && typeof said === "object" && !Array.isArray(said)
      ? Object.keys(said)
          .filter((k) => /^[A-Za-z_][A-Za-z0-9_.]{0,63}$/.test(k))
          .slice(0, MAX_FIELDS)
      : [];
  return { message: "", fields };
}

function hostOf(location: string | null, base: URL): string | undefined {
  if (!location) return undefined;
  try {
    return new URL(location, base).host;
  } catch {
    return undefined;
  }
}

/**
 * gitbeaker's request handler over an outbound fetch: one request per call (gitbeaker's own
 * retries 429 and 502 ten times within a quarter of a second and drops Retry-After; callers
 * retry with backoff themselves), no redirect followed, and errors that never carry GitLab's
 * answer text (GitlabAnswerError). A refused address rejects with the OutboundRefusedError.
 */
function requestHandler(fetch: OutboundFetch): RequestHandlerFn {
  return async (endpoint, options = {}) => {
    const { prefixUrl, searchParams, method, headers, body, signal } = options as {
      prefixUrl?: string;
      searchParams?: string;
      method?: string;
      headers?: Record<string, string>;
      body?: string | FormData;
      signal?: AbortSignal;
    };
    const url = new URL(endpoint, prefixUrl ? (prefixUrl.endsWith("/") ? prefixUrl : `${prefixUrl}/`) : undefined);
    if (searchParams) url.search = searchParams;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body: body ?? null, signal: signal ?? null });
    } catch (err) {
      const refusal = outboundRefusal(err);
      if (refusal) throw refusal;
      if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
        throw new GitbeakerTimeoutError("Query timeout was reached");
      }
      throw err;
    }
    const contentType = (response.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
    const text = response.status === 204 ? "" : await response.text();
    if (!response.ok) {
      const { message, fields } = readAnswer(text, contentType === "application/json");
      throw new GitlabAnswerError(
        response.status,
        fields,
        response.headers.get("retry-after"),
        hostOf(response.headers.get("location"), url),
        message,
      );
    }
    let parsedBody: unknown = null;
    if (response.status !== 204) parsedBody = contentType === "application/json" ? (text ? JSON.parse(text) : {}) : text;
    return { body: parsedBody, headers: Object.fromEntries(response.headers.entries()), status: response.status } as FormattedResponse;
  };
}

/** A gitbeaker `requesterFn` whose requests go through `fetch` (an outbound fetch). */
export function gitlabRequester(fetch: OutboundFetch) {
  return createRequesterFn(async (_serviceOptions, requestOptions) => requestOptions, requestHandler(fetch));
}
