import { type Job, UnrecoverableError, type WorkerOptions } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { SpanKind, withSpan } from "../telemetry/tracing.js";
import { catalog, type KindOf, type PayloadOf, type QueueName } from "./catalog.js";
import { TrackedWorker } from "./liveness.js";
import { isPermanent } from "./permanent.js";
import { PayloadError, parsePayload } from "./producer.js";

export interface JobContext {
  job: Job;
  /** A child logger carrying queue, job id, kind and attempt. */
  log: Logger;
  /** Aborted when the job is cancelled through BullMQ or the worker is force-closed. */
  signal: AbortSignal | undefined;
  token: string | undefined;
}

type JobHandler<P> = (payload: P, ctx: JobContext) => Promise<unknown>;

/** One handler per `kind` the queue's schema allows; a missing kind is a compile error. */
export type HandlerMap<Q extends QueueName> = {
  [K in KindOf<Q>]: JobHandler<PayloadOf<Q> & { kind: K }>;
};

interface CreateWorkerOptions<Q extends QueueName> {
  queue: Q;
  connection: Redis;
  prefix: string;
  concurrency: number;
  log: Logger;
  handlers: HandlerMap<Q>;
  workerOptions?: Partial<Omit<WorkerOptions, "connection" | "prefix" | "concurrency">>;
}

/**
 * How often a job may be found stalled (its worker died: kill -9, OOM, lost host) before BullMQ
 * fails it for good. BullMQ's default of 1 failed builds whose builder merely restarted twice
 * (the chaos suite's kill test lost 17 of 20 builds that way); 3 still stops a job that kills
 * every worker it lands on.
 */
const MAX_STALLED_COUNT = 3;

/** The reason BullMQ gives for a job that stalled more than MAX_STALLED_COUNT times, said plainly. */
export function stalledReason(message: string): string {
  return /stalled more than allowable limit/.test(message)
    ? `the worker running it stopped (crash or kill) ${MAX_STALLED_COUNT + 1} times; not retried again`
    : message;
}

/**
 * A BullMQ worker that parses every job's data again before it reaches a handler: a payload that
 * does not match its queue's schema fails at once as unrecoverable, with the zod message as reason.
 * A handler's PermanentError fails its job for good too (as UnrecoverableError).
 */
export function createWorker<Q extends QueueName>(opts: CreateWorkerOptions<Q>): TrackedWorker {
  const { queue, log } = opts;
  const worker = new TrackedWorker(
    catalog[queue].name,
    async (job, token, signal) => {
      let payload: PayloadOf<Q>;
      try {
        payload = parsePayload(queue, job.data);
      } catch (err) {
        if (err instanceof PayloadError) {
          log.error({ queue, jobId: job.id, err: err.message }, "job payload rejected");
          throw new UnrecoverableError(err.message);
        }
        throw err;
      }
      const kind = payload.kind as KindOf<Q>;
      const handler = opts.handlers[kind] as JobHandler<PayloadOf<Q>>;
      const jobLog = log.child({ queue, jobId: job.id, kind, attempt: job.attemptsMade + 1 });
      const ids = payload as { buildId?: string; releaseId?: string; event?: string };
      const attributes = {
        "hoist.queue": queue,
        "hoist.job_id": job.id ?? "",
        "hoist.job_kind": kind,
        "hoist.attempt": job.attemptsMade + 1,
        ...(ids.buildId ? { "hoist.build_id": ids.buildId } : {}),
        ...(ids.releaseId ? { "hoist.release_id": ids.releaseId } : {}),
        ...(ids.event ? { "hoist.event": ids.event } : {}),
      };
      return withSpan(`${queue} ${kind}`, { parent: payload.trace, kind: SpanKind.CONSUMER, attributes }, () =>
        handler(payload, { job, log: jobLog, signal, token }).catch((err: unknown) => {
          // One spelling of "do not retry" for every service: BullMQ's own is UnrecoverableError.
          throw isPermanent(err) && err.name !== "UnrecoverableError" ? new UnrecoverableError(err.message) : err;
        }),
      );
    },
    {
      maxStalledCount: MAX_STALLED_COUNT,
      ...opts.workerOptions,
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
    },
  );
  worker.on("failed", (job, err) => {
    // Emitted after the job's span ended: the trace id comes from the context the job carries.
    const traceId = /^[\da-f]{2}-([\da-f]{32})-/.exec(
      String((job?.data as { trace?: { traceparent?: unknown } } | undefined)?.trace?.traceparent ?? ""),
    )?.[1];
    log.warn(
      { queue, jobId: job?.id, attempt: job?.attemptsMade, err: err.message, ...(traceId ? { trace_id: traceId } : {}) },
      "job failed",
    );
  });
  worker.on("error", (err) => {
    log.error({ queue, err: err.message }, "worker error");
  });
  return worker;
}
