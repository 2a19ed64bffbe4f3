import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { NotifyPayload } from "../../queues/notify.js";
import { type JobQueues, parsePayload } from "../../queues/producer.js";
import { type RecordKeys, recordKeys } from "../keys.js";

/**
 * An entry younger than this is left to the transition that wrote it (which sends it at once);
 * the drainer takes the older ones, written by a process that died before sending them.
 */
const OUTBOX_GRACE_MS = 5_000;

/**
 * The notify jobs a transition wrote in its own script (see lua.ts), moved onto the notify queue.
 * Moving is idempotent: each job has its queue's deterministic id, so an entry sent twice (by its
 * transition and by the drainer) is one job, exactly as when the services enqueued by hand.
 */
export class NotifyOutbox {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RecordKeys,
    private readonly queues: JobQueues,
  ) {}

  /**
   * Sends a transition's entries now. Should that fail (Redis lost between the two), the error
   * propagates as before (the caller answers 503 or retries its job), while the entries stay in
   * the outbox for the drainer: the transition itself has happened and is not undone.
   */
  async send(members: readonly string[] | undefined): Promise<void> {
    if (!members?.length) return;
    await this.enqueue(members);
    // The jobs are queued: removing the entries need not hold the transition's caller up a round
    // trip. Lost (Redis gone meanwhile), the drainer sends them again to the same job ids: no duplicate.
    this.redis.zrem(this.keys.notifyOutbox, ...members).catch(() => {});
  }

  /** Sends every entry older than `graceMs`; returns how many were moved. */
  async drain(graceMs = OUTBOX_GRACE_MS, limit = 500): Promise<number> {
    const members = await this.redis.zrangebyscore(this.keys.notifyOutbox, "-inf", Date.now() - graceMs, "LIMIT", 0, limit);
    if (members.length) await this.move(members);
    return members.length;
  }

  private async move(members: readonly string[]): Promise<void> {
    await this.enqueue(members);
    await this.redis.zrem(this.keys.notifyOutbox, ...members);
  }

  private async enqueue(members: readonly string[]): Promise<void> {
    const payloads: NotifyPayload[] = [];
    for (const m of members) {
      try {
        payloads.push(parsePayload("notify", JSON.parse(m)));
      } catch {
        // Not a notify payload (written by another version?): dropped below rather than retried forever.
      }
    }
    if (payloads.length) await this.queues.enqueueMany("notify", payloads);
  }
}

/**
 * Drains the outbox every `everyMs`, so a transition whose process died before sending its
 * notify jobs still has them sent. Any number of processes may run it (sending is idempotent).
 * Returns a stop function.
 */
export function startOutboxDrainer(deps: { redis: Redis; prefix: string; queues: JobQueues; log: Logger }, everyMs = 5_000): () => void {
  const outbox = new NotifyOutbox(deps.redis, recordKeys(deps.prefix), deps.queues);
  const timer = setInterval(() => {
    outbox.drain().then(
      (n) => n && deps.log.info({ moved: n }, "sent notify jobs left in the outbox"),
      (err: Error) => deps.log.warn({ err: err.message }, "outbox drain failed; trying again next time"),
    );
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
