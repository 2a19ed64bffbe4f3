import { type LogEntry, LogWriter, type Redis, readLog, releaseLogKey } from "@hoist/shared";

/**
 * Where a deploy writes its step-by-step log: the same capped stream format as build logs
 * (time, step, line), so the API and dashboard read both the same way.
 */
export interface ReleaseLog {
  write(releaseId: string, line: string): Promise<void>;
}

export class RedisStreamReleaseLog implements ReleaseLog {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly maxLines = 5_000,
  ) {}

  async write(releaseId: string, line: string): Promise<void> {
    const writer = new LogWriter(this.redis, releaseLogKey(this.prefix, releaseId), { maxLines: this.maxLines });
    writer.write("deploy", line);
    await writer.flush();
  }

  async read(releaseId: string): Promise<{ id: string; line: string }[]> {
    const entries = await readLog(this.redis, releaseLogKey(this.prefix, releaseId));
    return entries.filter((e): e is Extract<LogEntry, { kind: "line" }> => e.kind === "line").map((e) => ({ id: e.id, line: e.line }));
  }
}
