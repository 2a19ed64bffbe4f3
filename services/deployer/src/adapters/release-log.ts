import type { Redis } from "@hoist/shared";

/**
 * Where a deploy writes its step-by-step log. Kept behind this interface so the shared capped
 * stream log writer (packages/shared/src/logs, the builder's issue) can replace it in one place.
 */
export interface ReleaseLog {
  write(releaseId: string, line: string): Promise<void>;
}

export function releaseLogKey(prefix: string, releaseId: string): string {
  return `${prefix}:log:release:${releaseId}`;
}

/** A capped Redis stream per release (about `maxLines` entries), field `line`. */
export class RedisStreamReleaseLog implements ReleaseLog {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly maxLines = 5_000,
  ) {}

  async write(releaseId: string, line: string): Promise<void> {
    await this.redis.xadd(releaseLogKey(this.prefix, releaseId), "MAXLEN", "~", String(this.maxLines), "*", "line", line);
  }

  async read(releaseId: string): Promise<{ id: string; line: string }[]> {
    const entries = await this.redis.xrange(releaseLogKey(this.prefix, releaseId), "-", "+");
    return entries.map(([id, fields]) => ({ id, line: fields[1] ?? "" }));
  }
}
