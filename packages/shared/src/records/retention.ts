import type { Redis } from "ioredis";
import type { RecordKeys } from "./keys.js";

/** Days a finished build, or a release no longer live, is kept (with its log) before Redis drops it. */
const defaultRetentionDays = 30;

export const finishedBuildStatuses: ReadonlySet<string> = new Set(["succeeded", "failed", "canceled"]);

/** A record's log stream sits beside it (see logs/stream.ts). */
const logOf = (recordKey: string) => `${recordKey}:log`;

/**
 * Time to live of records and their logs. Redis runs without eviction (BullMQ needs it), so
 * history must expire by itself: a finished build and a release that is no longer live expire
 * after the retention time; the live release and its build are kept as long as they are live.
 */
export class Retention {
  readonly ttlMs: number;

  constructor(
    private readonly redis: Redis,
    readonly keys: RecordKeys,
    retentionDays = defaultRetentionDays,
  ) {
    this.ttlMs = Math.round(retentionDays * 86_400_000);
  }

  /** Starts the retention time of these records and their logs. */
  async expire(recordKeys: string[]): Promise<void> {
    const pipe = this.redis.pipeline();
    for (const k of recordKeys) pipe.pexpire(k, this.ttlMs).pexpire(logOf(k), this.ttlMs);
    await pipe.exec();
  }

  /** Keeps these records and their logs until expired again. */
  async keep(recordKeys: string[]): Promise<void> {
    const pipe = this.redis.pipeline();
    for (const k of recordKeys) pipe.persist(k).persist(logOf(k));
    await pipe.exec();
  }
}
