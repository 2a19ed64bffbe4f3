import {
  type App,
  type Build,
  buildLogKey,
  type JobContext,
  LogWriter,
  type Records,
  type Redis,
  type SecretBox,
  SecretMasker,
  secretContexts,
} from "@hoist/shared";
import { CanceledError, type Cancellations, TimedOutError } from "../adapters/cancellations.js";

/** Which attempt of the job this is, and whether a failure now is the last one. */
export function attemptOf(job: JobContext["job"]): { number: number; of: number; isLast(permanent: boolean): boolean } {
  const of = job.opts.attempts ?? 1;
  const number = job.attemptsMade + 1;
  return { number, of, isLast: (permanent) => permanent || number >= of };
}

/**
 * The build's log writer. Defence in depth: no engine or git message should carry a secret, but
 * if one did (a Dockerfile that echoes a build arg, a registry error quoting its password), the
 * masker hides it.
 */
export function openBuildLog(
  deps: { redis: Redis; prefix: string; records: Records; logMaxLines: number; logLineMax?: number; logMaxBytes?: number },
  buildId: string,
): { writer: LogWriter; masker: SecretMasker } {
  const masker = new SecretMasker();
  const writer = new LogWriter(deps.redis, buildLogKey(deps.prefix, buildId), {
    maxLines: deps.logMaxLines,
    ...(deps.logLineMax ? { lineMax: deps.logLineMax } : {}),
    ...(deps.logMaxBytes ? { maxBytes: deps.logMaxBytes } : {}),
    redact: (line) => masker.mask(line),
    recordKey: deps.records.builds.key(buildId),
  });
  return { writer, masker };
}

/** The values of the app's sealed environment, which the build log must never show. */
export async function appEnvValues(secrets: SecretBox, app: App): Promise<string[]> {
  if (!app.env) return [];
  const plain = await secrets.open(app.env, secretContexts.appEnv(app.name));
  const env: unknown = JSON.parse(plain.toString("utf8"));
  return env && typeof env === "object" ? Object.values(env).filter((v): v is string => typeof v === "string") : [];
}

/**
 * The build's timeout, counted from its first start (so a taken-over build cannot run forever
 * either), combined with a cancel and the worker's own signal. `clear` stops the timer.
 */
export function buildDeadline(build: Build, app: App, signals: (AbortSignal | undefined)[]): { signal: AbortSignal; clear(): void } {
  const timeout = new AbortController();
  const deadline = Date.parse(build.startedAt ?? new Date().toISOString()) + app.buildTimeoutSec * 1000;
  const timer = setTimeout(() => timeout.abort(new TimedOutError("timed out")), Math.max(0, deadline - Date.now()));
  const all = [...signals.filter((s): s is AbortSignal => s !== undefined), timeout.signal];
  return { signal: AbortSignal.any(all), clear: () => clearTimeout(timer) };
}

/**
 * The pipeline's checkpoint between steps: stops on an abort, and on a build no longer running
 * (canceled by another process whose announcement this one missed), aborting its cancel too.
 */
export function cancellationCheck(
  deps: { records: Records; cancellations: Cancellations },
  buildId: string,
  signal: AbortSignal,
  cancel: { signal: AbortSignal },
): () => Promise<void> {
  return async () => {
    if (signal.aborted) throw signal.reason;
    const cur = await deps.records.builds.get(buildId);
    if (cur?.status !== "running") {
      cancel.signal.aborted || deps.cancellations.cancel(buildId);
      throw new CanceledError(buildId);
    }
  };
}
