import { type Redis, recordKeys } from "@hoist/shared";

/** Failed sign-ins and bad tokens one address may send in a minute before it is slowed. */
export const MAX_FAILURES_PER_MINUTE = 20;
const WINDOW_S = 60;

/**
 * Counts authentication failures per client address in Redis (so every API process counts them
 * together), in fixed one-minute windows. Once an address has failed MAX_FAILURES_PER_MINUTE
 * times, every credential it sends (right or wrong) answers 429 until the window ends: the answer
 * then says nothing about whether the credential was right, and takes the same time.
 */
export class FailureLimit {
  private readonly keys: ReturnType<typeof recordKeys>;
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = recordKeys(prefix);
  }

  /** Seconds until `address` may try again, or 0 when it may now. */
  async retryAfter(address: string): Promise<number> {
    const key = this.keys.authFailures(address);
    const [count, ttl] = await Promise.all([this.redis.get(key), this.redis.pttl(key)]);
    if (Number(count ?? 0) < MAX_FAILURES_PER_MINUTE) return 0;
    return Math.max(1, Math.ceil(ttl / 1000));
  }

  async fail(address: string): Promise<void> {
    const key = this.keys.authFailures(address);
    await this.redis.multi().incr(key).expire(key, WINDOW_S, "NX").exec();
  }
}
