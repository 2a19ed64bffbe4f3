import { type JobsOptions, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { z } from "zod";
import { currentTraceContext } from "../telemetry/tracing.js";
import { type Catalog, catalog, type PayloadOf, type QueueName } from "./catalog.js";

export class PayloadError extends Error {
  override name = "PayloadError";
}

/** Parses `data` as a `queue` payload or throws a PayloadError that says which field is wrong and why. */
export function parsePayload<Q extends QueueName>(queue: Q, data: unknown): PayloadOf<Q> {
  const schema = catalog[queue].schema as unknown as z.ZodType<PayloadOf<Q>>;
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new PayloadError(`invalid ${queue} job payload: ${z.prettifyError(result.error).replace(/\n/g, "; ")}`);
}

/**
 * The typed way onto Hoist's queues: every payload is parsed before it is added, and every job
 * gets its queue's deterministic id and retry defaults.
 */
export class JobQueues {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
  ) {}

  queue<Q extends QueueName>(name: Q): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(catalog[name].name, { connection: this.connection, prefix: this.prefix });
      // Queue re-emits connection errors; the producer's callers see failures as rejected adds.
      q.on("error", () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  /** Adds a job; the active trace (if any) travels in the payload unless the caller set one. */
  async enqueue<Q extends QueueName>(name: Q, payload: PayloadOf<Q>, opts: JobsOptions = {}) {
    const trace = payload.trace ?? currentTraceContext();
    const parsed = parsePayload(name, trace ? { ...payload, trace } : payload);
    const def: Catalog[Q] = catalog[name];
    const jobId = (def.jobId as (p: PayloadOf<Q>) => string)(parsed);
    return this.queue(name).add(parsed.kind, parsed, { ...def.jobOptions, jobId, ...opts });
  }

  /** Adds several jobs of one queue in one round trip (BullMQ addBulk), each parsed and with its queue's defaults. */
  async enqueueMany<Q extends QueueName>(name: Q, payloads: PayloadOf<Q>[], opts: JobsOptions = {}) {
    const def: Catalog[Q] = catalog[name];
    const trace = currentTraceContext();
    const jobs = payloads.map((payload) => {
      const withTrace = payload.trace ?? trace;
      const parsed = parsePayload(name, withTrace ? { ...payload, trace: withTrace } : payload);
      const jobId = (def.jobId as (p: PayloadOf<Q>) => string)(parsed);
      return { name: parsed.kind, data: parsed, opts: { ...def.jobOptions, jobId, ...opts } };
    });
    return this.queue(name).addBulk(jobs);
  }

  /** Whether the job this payload would be stored as (its queue's deterministic id) exists. */
  async hasJob<Q extends QueueName>(name: Q, payload: PayloadOf<Q>): Promise<boolean> {
    const jobId = (catalog[name].jobId as (p: PayloadOf<Q>) => string)(parsePayload(name, payload));
    return (await this.queue(name).getJob(jobId)) !== undefined;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
