import { PermanentDeliveryError, TransientDeliveryError } from "./errors.js";

/** A destination asking for hours of silence gets at most this; the retry budget still bounds the total. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * Parses a Retry-After header (RFC 9110: delay-seconds or an HTTP-date) into milliseconds from
 * `now`, capped at MAX_RETRY_AFTER_MS. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === "") return undefined;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    // An HTTP-date always names a weekday and month; Date.parse alone would read "-3" as a year.
    if (!/[A-Za-z]/.test(v)) return undefined;
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

/** At most this much of a destination's answer goes into a failure reason. */
const ANSWER_LIMIT = 300;

function answerSnippet(body: string): string {
  const oneLine = body.replace(/\s+/g, " ").trim();
  return oneLine.length > ANSWER_LIMIT ? `${oneLine.slice(0, ANSWER_LIMIT)}…` : oneLine;
}

/**
 * What an HTTP answer means for delivery: undefined for 2xx; transient for 408, 429 and 5xx
 * (with the Retry-After the destination sent); permanent for every other status, with the
 * destination's answer in the message so the failed job says what to fix.
 */
export function classifyHttpAnswer(
  destination: string,
  status: number,
  body: string,
  retryAfter: string | null | undefined,
  now: number = Date.now(),
): PermanentDeliveryError | TransientDeliveryError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const answer = answerSnippet(body);
  const said = answer ? `: ${answer}` : "";
  if (status === 408 || status === 429 || status >= 500) {
    return new TransientDeliveryError(`${destination} answered ${status}${said}`, parseRetryAfter(retryAfter, now));
  }
  if (status >= 300 && status < 400) {
    return new PermanentDeliveryError(`${destination} answered ${status} (a redirect): point it at the final URL`);
  }
  return new PermanentDeliveryError(`${destination} answered ${status}${said}`);
}

/** A network failure's code (ECONNREFUSED, ETIMEDOUT, ...) without the URL, which may be secret. */
export function networkReason(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && /^[A-Z_]+$/.test(code)) return code;
    if (e.name === "TimeoutError" || e.name === "AbortError") return "timeout";
    e = e.cause;
  }
  return "network error";
}
