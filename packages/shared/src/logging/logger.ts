import { type DestinationStream, type Logger, pino } from "pino";
import { activeTraceIds } from "../telemetry/tracing.js";

/** Field names that may carry secrets anywhere in a log object; pino replaces their values. */
const redactedPaths = [
  "token",
  "*.token",
  "password",
  "*.password",
  "privateKey",
  "*.privateKey",
  "secret",
  "*.secret",
  "authorization",
  "*.authorization",
  "headers.authorization",
  'headers["x-gitlab-token"]',
  "req.headers.authorization",
  'req.headers["x-gitlab-token"]',
];

export function createLogger(opts: { service: string; level?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      name: opts.service,
      level: opts.level ?? "info",
      base: { service: opts.service },
      redact: { paths: redactedPaths, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Every line logged inside a span carries its trace id, so logs and traces join up.
      mixin: () => activeTraceIds(),
    },
    destination,
  );
}

export type { Logger };
