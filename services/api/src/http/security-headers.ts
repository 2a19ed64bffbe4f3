import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import { CONFIRM_HANDLER, LOG_FOLLOW_SCRIPT } from "../dashboard/pages.js";

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/**
 * Scripts: the API's own files (bull-board's bundle) and the dashboard's two inline scripts by
 * hash; nothing injected into a page can run. Styles may be inline (the dashboard's stylesheet,
 * bull-board's components); a style cannot run code. No page may be framed (clickjacking).
 */
const contentSecurityPolicy = [
  "default-src 'self'",
  `script-src 'self' ${sha256(LOG_FOLLOW_SCRIPT)} 'unsafe-hashes' ${sha256(CONFIRM_HANDLER)}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const headers: [string, string][] = [
  ["content-security-policy", contentSecurityPolicy],
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  // Answers are live state and may carry a session's data: never kept by a browser or a proxy.
  ["cache-control", "no-store"],
  // Same-origin requests keep their Referer (the queue board's CSRF check reads it), others lose it.
  ["referrer-policy", "same-origin"],
  ["cross-origin-opener-policy", "same-origin"],
];

/** Sets the security headers every answer of the API and dashboard carries. */
export function setSecurityHeaders(res: ServerResponse): void {
  for (const [name, value] of headers) res.setHeader(name, value);
}
