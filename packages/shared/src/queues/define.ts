import type { JobsOptions } from "bullmq";
import { z } from "zod";

/** Every job payload names its handler with `kind`; the worker's handler map is keyed by it. */
type KindedPayload = { kind: string };

export interface QueueDefinition<N extends string, S extends z.ZodType<KindedPayload>> {
  /** The BullMQ queue name (keys live under `${HOIST_QUEUE_PREFIX}:${name}`). */
  readonly name: N;
  readonly schema: S;
  /** Deterministic job id, so the same unit of work enqueued twice is one job. */
  readonly jobId: (payload: z.infer<S>) => string;
  /** Retry, backoff and retention defaults; failed jobs are kept (never removeOnFail: true). */
  readonly jobOptions: JobsOptions;
}

export function defineQueue<N extends string, S extends z.ZodType<KindedPayload>>(def: QueueDefinition<N, S>): QueueDefinition<N, S> {
  return def;
}

/** Ids are opaque tokens: letters, digits, '_' and '-', which are safe in Redis keys and BullMQ job ids. */
export const idSchema = z
  .string()
  .min(1, "an id is required")
  .max(64, "an id is at most 64 characters")
  .regex(/^[A-Za-z0-9_-]+$/, "an id holds only letters, digits, '_' and '-'");

/** W3C trace context, so one push is one trace across every queue hop. */
export const traceContextSchema = z
  .object({
    traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, "a W3C traceparent header value"),
    tracestate: z.string().max(512).optional(),
  })
  .strict();

const DAY_S = 24 * 3600;

/** Completed jobs stay a week for inspection; failed ones a month, so nothing fails out of sight. */
export const retention = {
  removeOnComplete: { age: 7 * DAY_S, count: 10_000 },
  removeOnFail: { age: 30 * DAY_S },
} satisfies JobsOptions;
