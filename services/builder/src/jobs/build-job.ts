import {
  type App,
  type Build,
  buildLogKey,
  buildsTotal,
  ConflictError,
  enqueueNotifications,
  type JobContext,
  type JobQueues,
  type Logger,
  LogWriter,
  type Records,
  type Redis,
  SecretMasker,
  secretContexts,
  stalledReason,
  UnrecoverableError,
} from "@hoist/shared";
import { CanceledError, type Cancellations, TimedOutError } from "../adapters/cancellations.js";
import { BuildFailure, oneLine } from "../domain/failure.js";
import { type PipelineDeps, runPipeline } from "./pipeline.js";

export interface BuildJobDeps {
  redis: Redis;
  prefix: string;
  records: Records;
  queues: JobQueues;
  cancellations: Cancellations;
  logMaxLines: number;
  /** Bytes per log line and per build log (the LogWriter's defaults when unset). */
  logLineMax?: number;
  logMaxBytes?: number;
  log: Logger;
  pipeline: Omit<PipelineDeps, "log" | "checkpoint" | "pinHostKeys">;
  /** Clone, build and push (the real one unless a caller composes another, as bench:pipeline does). */
  runPipeline?: typeof runPipeline;
}

export type BuildOutcome =
  | { outcome: "skipped"; status: string }
  | { outcome: "canceled" }
  | { outcome: "succeeded"; releaseId: string; images: number };

/** The release of a build has an id derived from the build's: a retried or taken-over job finds it. */
export function releaseIdFor(buildId: string): string {
  return `rel_${buildId}`.slice(0, 64);
}

const nowIso = () => new Date().toISOString();

/**
 * Creates the build's one release (or finds it), records it on the build, marks the build
 * succeeded and enqueues its deploy job. Every step is idempotent, so a crash between any two
 * is repaired by running this again. `app` saves a read when the caller has it.
 */
async function finishSucceeded(deps: BuildJobDeps, build: Build, images: NonNullable<Build["images"]>, knownApp?: App): Promise<string> {
  const { records, queues } = deps;
  const releaseId = build.releaseId ?? releaseIdFor(build.id);
  const app = knownApp ?? (await records.apps.get(build.app));
  try {
    await records.releases.create({ id: releaseId, app: build.app, buildId: build.id, images, ...(app?.env ? { env: app.env } : {}) });
  } catch (err) {
    // Made by an earlier attempt that died after it: that one stands.
    if (!(err instanceof ConflictError)) throw err;
  }
  if (build.status === "running") {
    const done = await records.builds.transition(build.id, ["running"], { status: "succeeded", finishedAt: nowIso(), releaseId, images });
    if (!done.ok) {
      // Canceled at the last moment: the images exist, but nothing is deployed.
      await records.releases.transition(releaseId, ["pending"], { status: "failed", reason: "build canceled before release" });
      throw new CanceledError(build.id);
    }
  } else {
    await records.builds.patch(build.id, { releaseId, images });
  }
  await Promise.all([
    queues.enqueue("deploy", { kind: "deploy", releaseId }),
    enqueueNotifications(queues, "build.succeeded", { buildId: build.id, releaseId }, app),
  ]);
  return releaseId;
}

/** The values of the app's sealed environment, which the build log must never show. */
async function appEnvValues(deps: BuildJobDeps, app: App): Promise<string[]> {
  if (!app.env) return [];
  const plain = await deps.pipeline.secrets.open(app.env, secretContexts.appEnv(app.name));
  const env: unknown = JSON.parse(plain.toString("utf8"));
  return env && typeof env === "object" ? Object.values(env).filter((v): v is string => typeof v === "string") : [];
}

async function recordFailure(deps: BuildJobDeps, buildId: string, reason: string, logTail: string[]): Promise<boolean> {
  const res = await deps.records.builds.transition(buildId, ["running"], { status: "failed", reason, logTail, finishedAt: nowIso() });
  if (res.ok) {
    buildsTotal.inc({ outcome: "failed" });
    await enqueueNotifications(deps.queues, "build.failed", { buildId }, await deps.records.apps.get(res.record.app));
  }
  return res.ok;
}

/**
 * The build job: queued → running → succeeded | failed. Canceled and finished builds are
 * skipped; a running one (its worker died) is taken over and finished once.
 */
export async function processBuild(
  deps: BuildJobDeps,
  buildId: string,
  ctx: Pick<JobContext, "job" | "signal" | "log">,
): Promise<BuildOutcome> {
  const { records, log: baseLog } = deps;
  const log = baseLog.child({ buildId });
  let build = await records.builds.get(buildId);
  if (!build) throw new UnrecoverableError(`build ${buildId} not found`);
  if (build.status === "succeeded" && build.releaseId && build.images) {
    // Succeeded, but the worker may have died before the deploy job went out: make sure it did.
    await finishSucceeded(deps, build, build.images);
    return { outcome: "skipped", status: build.status };
  }
  if (build.status !== "queued" && build.status !== "running") return { outcome: "skipped", status: build.status };

  const cancel = deps.cancellations.register(buildId);
  // Defence in depth: no engine or git message should carry a secret, but if one did (a Dockerfile
  // that echoes a build arg, a registry error quoting its password), it is masked.
  const masker = new SecretMasker();
  const writer = new LogWriter(deps.redis, buildLogKey(deps.prefix, buildId), {
    maxLines: deps.logMaxLines,
    ...(deps.logLineMax ? { lineMax: deps.logLineMax } : {}),
    ...(deps.logMaxBytes ? { maxBytes: deps.logMaxBytes } : {}),
    redact: (line) => masker.mask(line),
    recordKey: records.builds.key(buildId),
  });
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  try {
    if (build.status === "queued") {
      const t = await records.builds.transition(buildId, ["queued"], { status: "running", startedAt: nowIso() });
      if (!t.ok) return { outcome: "skipped", status: t.reason === "state" ? t.current : "missing" };
      build = t.record;
      started = true;
      writer.write("start", `build #${build.number} of ${build.app} at ${build.sha} (${build.ref})`);
    } else {
      writer.write(
        "start",
        `resuming build #${build.number} (attempt ${ctx.job.attemptsMade + 1}): an earlier attempt failed or its worker stopped`,
      );
    }
    const app = await records.apps.get(build.app);
    if (started) await enqueueNotifications(deps.queues, "build.running", { buildId }, app);
    if (!app) throw new BuildFailure(`app ${build.app} no longer exists`, true);
    for (const value of await appEnvValues(deps, app)) masker.add(value);

    // The timeout counts from the first start, so a taken-over build cannot run forever either.
    const timeout = new AbortController();
    const deadline = Date.parse(build.startedAt ?? nowIso()) + app.buildTimeoutSec * 1000;
    timer = setTimeout(() => timeout.abort(new TimedOutError("timed out")), Math.max(0, deadline - Date.now()));
    const signals = [cancel.signal, timeout.signal, ...(ctx.signal ? [ctx.signal] : [])];
    const signal = AbortSignal.any(signals);

    let images = build.images;
    if (!(build.releaseId && images)) {
      images = await (deps.runPipeline ?? runPipeline)(
        app,
        build,
        {
          ...deps.pipeline,
          log: (step, line) => writer.write(step, line),
          redact: (secret) => masker.add(secret),
          pinHostKeys: async (hostKeys) => {
            await records.apps.update(app.name, { hostKeys });
          },
          checkpoint: async () => {
            if (signal.aborted) throw signal.reason;
            const cur = await records.builds.get(buildId);
            if (cur?.status !== "running") {
              cancel.signal.aborted || deps.cancellations.cancel(buildId);
              throw new CanceledError(buildId);
            }
          },
        },
        signal,
      );
    }
    const releaseId = await finishSucceeded(deps, build, images, app);
    writer.write("release", `release ${releaseId} created; deploy queued`);
    await writer.end("succeeded");
    buildsTotal.inc({ outcome: "succeeded" });
    log.info({ releaseId, images: images.length }, "build succeeded");
    return { outcome: "succeeded", releaseId, images: images.length };
  } catch (err) {
    const reason = (err as Error | undefined) ?? new Error("unknown");
    if (reason instanceof CanceledError || cancel.signal.aborted) {
      writer.write("cancel", "build canceled; nothing pushed after the cancel");
      await writer.end("canceled");
      buildsTotal.inc({ outcome: "canceled" });
      log.info("build canceled");
      return { outcome: "canceled" };
    }
    if (reason instanceof TimedOutError) {
      writer.write("timeout", "build timed out");
      await writer.flush();
      await recordFailure(deps, buildId, "timed out", writer.lastLines());
      await writer.end("failed");
      throw new UnrecoverableError("timed out");
    }
    if (ctx.signal?.aborted) {
      // The worker is shutting down: leave the build running for the retry or another worker.
      writer.write("worker", "worker stopping; the build will be retried");
      await writer.flush();
      throw reason;
    }
    const failure = reason instanceof BuildFailure ? reason : new BuildFailure(oneLine(reason.message), false);
    const attempts = ctx.job.opts.attempts ?? 1;
    const final = failure.permanent || ctx.job.attemptsMade + 1 >= attempts;
    writer.write("error", failure.reason);
    await writer.flush();
    if (!final) {
      writer.write("retry", `attempt ${ctx.job.attemptsMade + 1} of ${attempts} failed; retrying`);
      await writer.flush();
      log.warn({ reason: failure.reason }, "build attempt failed; will retry");
      throw new Error(failure.reason);
    }
    await recordFailure(deps, buildId, failure.reason, writer.lastLines());
    await writer.end("failed");
    log.warn({ reason: failure.reason }, "build failed");
    throw new UnrecoverableError(failure.reason);
  } finally {
    if (timer) clearTimeout(timer);
    cancel.release();
    await writer.flush();
  }
}

/**
 * For a job BullMQ failed without the handler's say (stalled too often): the build must not
 * stay `running`. Called from the worker's `failed` event for final failures.
 */
export async function failOrphanedBuild(
  deps: Pick<BuildJobDeps, "records" | "queues" | "redis" | "prefix">,
  buildId: string,
  message: string,
): Promise<void> {
  const reason = `builder: ${oneLine(stalledReason(message))}`;
  const res = await deps.records.builds.transition(buildId, ["running", "queued"], { status: "failed", reason, finishedAt: nowIso() });
  if (res.ok) {
    await enqueueNotifications(deps.queues, "build.failed", { buildId }, await deps.records.apps.get(res.record.app));
    await new LogWriter(deps.redis, buildLogKey(deps.prefix, buildId), { recordKey: deps.records.builds.key(buildId) }).end("failed");
  }
}
