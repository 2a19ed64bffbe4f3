import {
  createRequesterFn,
  type FormattedResponse,
  GitbeakerRequestError,
  GitbeakerTimeoutError,
  type RequestHandlerFn,
} from "@gitbeaker/requester-utils";

/**
 * gitbeaker's own request handler retries 429 and 502 ten times within about a quarter of a
 * second and drops the Retry-After header. Notify jobs already retry with backoff and honour
 * Retry-After, so this handler makes exactly one request and throws gitbeaker's own
 * GitbeakerRequestError (with the Response in `cause`) for any non-2xx answer.
 */
const singleRequest: RequestHandlerFn = async (endpoint, options = {}) => {
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
  const request = new Request(url, { method, headers, body, signal });
  let response: Response;
  try {
    response = await fetch(request);
  } catch (err) {
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
      throw new GitbeakerTimeoutError("Query timeout was reached");
    }
    throw err;
  }
  const contentType = (response.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
  const text = response.status === 204 ? "" : await response.text();
  if (!response.ok) {
    let description = text;
    if (contentType === "application/json") {
      try {
        const parsed = JSON.parse(text) as { error?: unknown; message?: unknown } | null;
        const said = parsed?.error ?? parsed?.message ?? "";
        description = typeof said === "string" ? said : JSON.stringify(said);
      } catch {
        // Not JSON after all: keep the raw answer.
      }
    }
    throw new GitbeakerRequestError(description, { cause: { description, request, response } });
  }
  let parsedBody: unknown = null;
  if (response.status !== 204) parsedBody = contentType === "application/json" ? (text ? JSON.parse(text) : {}) : text;
  return {
    body: parsedBody,
    headers: Object.fromEntries(response.headers.entries()),
    status: response.status,
  } as FormattedResponse;
};

export const singleRequestRequester = createRequesterFn(async (_serviceOptions, requestOptions) => requestOptions, singleRequest);
