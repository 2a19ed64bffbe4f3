import { createHash } from "node:crypto";
import {
  type App,
  type Build,
  BuildLifecycle,
  buildLogKey,
  buildsTotal,
  ConflictError,
  isPreviewEnvironment,
  type JobContext,
  type JobQueues,
  type Logger,
  LogWriter,
  PermanentError,
  PRODUCTION,
  previewEnvironment,
  type Records,
  type Redis,
  type Sealed,
  stalledReason,
} from "@hoist/shared";
import { CanceledError, type Cancellations, TimedOutError } from "../adapters/cancellations.js";
import { BuildFailure, oneLine } from "../domain/failure.js";
import { appEnvValues, attemptOf, buildDeadline, cancellationCheck, openBuildLog } from "./build-run.js";
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

type BuildOutcome =
  | { outcome: "skipped"; status: string }
  | { outcome: "canceled" }
  | { outcome: "succeeded"; releases: NonNullable<Build["releases"]>; images: number };

/**
 * The release of a build in an environment has an id derived from the build's: a retried or
 * taken-over job finds it. Production's is `rel_<build id>`, as before environments.
 */
export function releaseIdFor(buildId: string, environment: string = PRODUCTION): string {
  if (environment === PRODUCTION) return `rel_${buildId}`.slice(0, 64);
  const id = `rel_${buildId}-${environment}`;
  return id.length <= 64 ? id : `rel_${buildId}-${createHash("sha256").update(environment).digest("hex").slice(0, 16)}`;
}

type Ctx = Pick<JobContext, "job" | "signal" | "log">;
type Log = ReturnType<typeof openBuildLog>;
type Made = NonNullable<Build["releases"]>;

/**
 * The releases a succeeded build makes: one in each environment with `auto: true` (production's
 * default), with that environment's variables; a merge request's preview build (`preview`) one in
 * its preview environment `mr-<iid>` only (none when the preview was torn down meanwhile). A build
 * that succeeded already keeps the ones it recorded (one recorded before environments:
 * production's), so a retry makes no other.
 */
async function releasesToMake(records: Records, build: Build, app: App | undefined): Promise<{ made: Made; env: Map<string, Sealed> }> {
  const env = new Map<string, Sealed>();
  if (!app) return { made: [], env };
  const environments = await records.environments.list(app);
  for (const e of environments) if (e.env) env.set(e.name, e.env);
  if (build.status === "succeeded")
    return { made: build.releases ?? (build.releaseId ? [{ environment: PRODUCTION, id: build.releaseId }] : []), env };
  const wanted = build.preview
    ? environments.filter((e) => e.name === previewEnvironment(build.preview?.iid ?? 0))
    : environments.filter((e) => e.auto && !isPreviewEnvironment(e.name));
  const made = wanted.map((e) => ({ environment: e.name, id: releaseIdFor(build.id, e.name) }));
  return { made, env };
}

/**
 * Creates the build's releases (or finds them), records them on the build (succeeded: its
 * build.succeeded events go with it) and enqueues their deploy jobs. Every step is idempotent, so a
 * crash between any two is repaired by running this again.
 */
async function finishSucceeded(
  deps: Pick<BuildJobDeps, "records" | "queues">,
  build: Build,
  images: NonNullable<Build["images"]>,
  knownApp?: App,
): Promise<Made> {
  const { records, queues } = deps;
  const app = knownApp ?? (await records.apps.get(build.app));
  const { made, env } = await releasesToMake(records, build, app);
  for (const r of made) {
    const sealed = env.get(r.environment);
    try {
      await records.releases.create({
        id: r.id,
        app: build.app,
        environment: r.environment,
        buildId: build.id,
        images,
        ...(sealed ? { env: sealed } : {}),
      });
    } catch (err) {
      // Made by an earlier attempt that died after it: that one stands.
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  const first = made[0]?.id;
  if (build.status === "running") {
    const done = await new BuildLifecycle(records, queues).succeed(build.id, {
      ...(first ? { releaseId: first } : {}),
      releases: made,
      images,
    });
    if (!done.ok) {
      // Canceled at the last moment: the images exist, but nothing is deployed.
      for (const r of made)
        await records.releases.transition(r.id, ["pending"], { status: "failed", reason: "build canceled before release" });
      throw new CanceledError(build.id);
    }
  } else {
    await records.builds.patch(build.id, { ...(first ? { releaseId: first } : {}), releases: made, images });
  }
  for (const r of made) await queues.enqueue("deploy", { kind: "deploy", releaseId: r.id });
  return made;
}

async function recordFailure(deps: BuildJobDeps, buildId: string, reason: string, logTail: string[]): Promise<boolean> {
  const res = await new BuildLifecycle(deps.records, deps.queues).fail(buildId, reason, { logTail });
  if (res.ok) buildsTotal.inc({ outcome: "failed" });
  return res.ok;
}

/** queued → running (or a running build resumed by a retry or another worker); undefined: nothing to run. */
async function startOrResume(deps: BuildJobDeps, build: Build, writer: LogWriter, ctx: Ctx): Promise<Build | BuildOutcome> {
  if (build.status === "running") {
    writer.write(
      "start",
      `resuming build #${build.number} (attempt ${attemptOf(ctx.job).number}): an earlier attempt failed or its worker stopped`,
    );
    return build;
  }
  const t = await new BuildLifecycle(deps.records, deps.queues).start(build.id);
  if (!t.ok) return { outcome: "skipped", status: t.reason === "state" ? t.current : "missing" };
  writer.write("start", `build #${t.record.number} of ${t.record.app} at ${t.record.sha} (${t.record.ref})`);
  return t.record;
}

/** Clone, build and push under the build's deadline and cancel (unless an earlier attempt got that far). */
async function runBuild(deps: BuildJobDeps, build: Build, app: App, log: Log, cancel: { signal: AbortSignal }, ctx: Ctx) {
  if ((build.releaseId || build.releases) && build.images) return build.images;
  const deadline = buildDeadline(build, app, [cancel.signal, ctx.signal]);
  try {
    return await (deps.runPipeline ?? runPipeline)(
      app,
      build,
      {
        ...deps.pipeline,
        log: (step, line) => log.writer.write(step, line),
        redact: (secret) => log.masker.add(secret),
        // Under a key of their own: the builder's Redis user may not write the app record.
        pinHostKeys: async (hostKeys) => {
          await deps.records.apps.pinHostKeys(app.name, hostKeys);
        },
        checkpoint: cancellationCheck(deps, build.id, deadline.signal, cancel),
      },
      deadline.signal,
    );
  } finally {
    deadline.clear();
  }
}

/**
 * The build job: queued → running → succeeded | failed. Canceled and finished builds are
 * skipped; a running one (its worker died) is taken over and finished once.
 */
export async function processBuild(deps: BuildJobDeps, buildId: string, ctx: Ctx): Promise<BuildOutcome> {
  const build = await deps.records.builds.get(buildId);
  if (!build) throw new PermanentError(`build ${buildId} not found`);
  if (build.status === "succeeded" && build.images) {
    // Succeeded, but the worker may have died before the deploy job went out: make sure it did.
    await finishSucceeded(deps, build, build.images);
    return { outcome: "skipped", status: build.status };
  }
  if (build.status !== "queued" && build.status !== "running") return { outcome: "skipped", status: build.status };

  const cancel = deps.cancellations.register(buildId);
  const log = openBuildLog(deps, buildId);
  try {
    const running = await startOrResume(deps, build, log.writer, ctx);
    if ("outcome" in running) return running;
    const app = await deps.records.apps.get(running.app);
    if (!app) throw new BuildFailure(`app ${running.app} no longer exists`, true);
    for (const value of await appEnvValues(deps.pipeline.secrets, app)) log.masker.add(value);
    const images = await runBuild(deps, running, app, log, cancel, ctx);
    const made = await finishSucceeded(deps, running, images, app);
    for (const r of made) log.writer.write("release", `release ${r.id} created in ${r.environment}; deploy queued`);
    if (!made.length)
      log.writer.write(
        "release",
        running.preview
          ? `the preview environment mr-${running.preview.iid} does not exist (torn down while building): no release`
          : "no environment deploys automatically (auto is false in every one): promote the build",
      );
    await log.writer.end("succeeded");
    buildsTotal.inc({ outcome: "succeeded" });
    deps.log.info({ buildId, releases: made, images: images.length }, "build succeeded");
    return { outcome: "succeeded", releases: made, images: images.length };
  } catch (err) {
    return await settleError(deps, buildId, (err as Error | undefined) ?? new Error("unknown"), log.writer, cancel, ctx);
  } finally {
    cancel.release();
    await log.writer.flush();
  }
}

/**
 * How an attempt that threw ends: canceled (an outcome), timed out or failed for good (the build
 * recorded failed, the job failed permanently), or retried (the build stays running).
 */
async function settleError(
  deps: BuildJobDeps,
  buildId: string,
  reason: Error,
  writer: LogWriter,
  cancel: { signal: AbortSignal },
  ctx: Ctx,
): Promise<BuildOutcome> {
  const log = deps.log.child({ buildId });
  if (reason instanceof CanceledError || cancel.signal.aborted) {
    writer.write("cancel", "build canceled; nothing pushed after the cancel");
    await writer.end("canceled");
    buildsTotal.inc({ outcome: "canceled" });
    log.info("build canceled");
    return { outcome: "canceled" };
  }
  if (reason instanceof TimedOutError) return failForGood(deps, buildId, writer, "timeout", "build timed out", "timed out");
  if (ctx.signal?.aborted) {
    // The worker is shutting down: leave the build running for the retry or another worker.
    writer.write("worker", "worker stopping; the build will be retried");
    await writer.flush();
    throw reason;
  }
  const failure = reason instanceof BuildFailure ? reason : new BuildFailure(oneLine(reason.message), false);
  const attempt = attemptOf(ctx.job);
  if (!attempt.isLast(failure.permanent)) {
    writer.write("error", failure.reason);
    writer.write("retry", `attempt ${attempt.number} of ${attempt.of} failed; retrying`);
    await writer.flush();
    log.warn({ reason: failure.reason }, "build attempt failed; will retry");
    throw new Error(failure.reason);
  }
  log.warn({ reason: failure.reason }, "build failed");
  return failForGood(deps, buildId, writer, "error", failure.reason, failure.reason);
}

/** Records the build failed (build.failed goes with it), ends its log and fails the job permanently. */
async function failForGood(
  deps: BuildJobDeps,
  buildId: string,
  writer: LogWriter,
  step: string,
  line: string,
  reason: string,
): Promise<never> {
  writer.write(step, line);
  await writer.flush();
  await recordFailure(deps, buildId, reason, writer.lastLines());
  await writer.end("failed");
  throw new PermanentError(reason);
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
  const build = await deps.records.builds.get(buildId);
  if (build?.status === "succeeded" && build.images) {
    // Its worker died after the build succeeded but before every deploy job went out, and no
    // attempt is left to finish that: send them now (idempotent), or the release never deploys.
    await finishSucceeded(deps, build, build.images);
    return;
  }
  const reason = `builder: ${oneLine(stalledReason(message))}`;
  const res = await new BuildLifecycle(deps.records, deps.queues).fail(buildId, reason, { from: ["running", "queued"] });
  if (res.ok) {
    await new LogWriter(deps.redis, buildLogKey(deps.prefix, buildId), { recordKey: deps.records.builds.key(buildId) }).end("failed");
  }
}
