import type { Redis } from "ioredis";
import { recordKeys } from "../records/keys.js";

/** Redis stream of a build's log lines, beside the build record. */
export function buildLogKey(prefix: string, buildId: string): string {
  return `${recordKeys(prefix).build(buildId)}:log`;
}

/** Redis stream of a release's log lines (the deployer's). */
export function releaseLogKey(prefix: string, releaseId: string): string {
  return `${recordKeys(prefix).release(releaseId)}:log`;
}

const defaultLogMaxLines = 10_000;
/** Longest line kept (bytes of UTF-8); the rest of a longer one is cut, with a marker. */
const defaultLogLineMax = 4096;
/** Bytes of lines one log may take; past them one last line says the log was truncated. */
const defaultLogMaxBytes = 8 * 1024 * 1024;

export type LogEntry =
  | { id: string; kind: "line"; time: string; step: string; line: string }
  | { id: string; kind: "end"; time: string; status: string };

interface LogWriterOptions {
  maxLines?: number;
  /** Bytes per line (UTF-8); default 4 KiB. */
  lineMax?: number;
  /** Bytes of lines in all (UTF-8); default 8 MiB. */
  maxBytes?: number;
  tailLines?: number;
  batchMs?: number;
  redact?: (line: string) => string;
  /** The record this log belongs to: at the end the log takes the record's time to live, so they expire together. */
  recordKey?: string;
}

/** Cuts `line` to at most `max` bytes of UTF-8 without splitting a character. */
function cutBytes(line: string, max: number): string {
  if (Buffer.byteLength(line) <= max) return line;
  let out = Buffer.from(line).subarray(0, max).toString("utf8");
  // A character split at the cut decodes as U+FFFD: drop it.
  if (out.endsWith("\uFFFD")) out = out.slice(0, -1);
  return out;
}

/** Gives a log the time to live of its record (none when the record has none, e.g. a live release's). */
const FOLLOW_RECORD_TTL = `
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) elseif ttl == -1 then redis.call('PERSIST', KEYS[1]) end
return ttl`;

/** Defined once per connection: sent as EVALSHA (ioredis loads it the first time), not the whole script each end. */
const followDefined = new WeakSet<Redis>();
type FollowPipeline = ReturnType<Redis["pipeline"]> & { hoistFollowRecordTtl(log: string, record: string): unknown };
function defineFollow(redis: Redis): void {
  if (followDefined.has(redis)) return;
  redis.defineCommand("hoistFollowRecordTtl", { numberOfKeys: 2, lua: FOLLOW_RECORD_TTL });
  followDefined.add(redis);
}

/**
 * Appends lines to a capped Redis stream as they happen. Lines are batched for a few
 * milliseconds into one pipeline, so a chatty build costs few round trips; `flush()` waits for them.
 * The stream keeps the newest `maxLines` entries; each line is cut at `lineMax` bytes and the
 * whole log at `maxBytes`, so one build cannot fill Redis (which runs without eviction).
 */
export class LogWriter {
  private pending: [string, string, string][] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly tail: string[] = [];
  private bytes = 0;
  private truncated = false;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly opts: LogWriterOptions = {},
  ) {}

  /** Adds one line (or several, split on newlines) under `step`. Never throws: a log outage must not fail the work. */
  write(step: string, text: string): void {
    const redact = this.opts.redact ?? ((l: string) => l);
    const lineMax = this.opts.lineMax ?? defaultLogLineMax;
    const maxBytes = this.opts.maxBytes ?? defaultLogMaxBytes;
    for (const raw of text.split(/\r?\n|\r/)) {
      // A redactor may keep state across lines (a PEM key's body): it sees every line, in order.
      let line = redact(raw).trimEnd();
      if (line === "") continue;
      const cut = cutBytes(line, lineMax);
      if (cut !== line) line = `${cut} [line cut: over ${lineMax} bytes]`;
      this.tail.push(`${step}: ${line}`);
      if (this.tail.length > (this.opts.tailLines ?? 30)) this.tail.shift();
      if (this.truncated) continue;
      this.bytes += Buffer.byteLength(line) + Buffer.byteLength(step);
      if (this.bytes > maxBytes) {
        this.truncated = true;
        line = `[log truncated: over ${maxBytes} bytes; later lines were dropped]`;
      }
      this.pending.push([new Date().toISOString(), step, line]);
    }
    if (this.pending.length >= 500) void this.flush();
    else if (this.pending.length) this.timer ??= setTimeout(() => void this.flush(), this.opts.batchMs ?? 50);
  }

  /** The last lines written (for a failed build's `logTail`). */
  lastLines(): string[] {
    return [...this.tail];
  }

  flush(): Promise<void> {
    return this.send();
  }

  /** Flushes and appends the end marker that tells followers the work is over (one round trip). */
  async end(status: string): Promise<void> {
    await this.send(status);
  }

  private send(endStatus?: string): Promise<void> {
    defineFollow(this.redis);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0 && endStatus === undefined) return this.flushing;
    const max = String(this.opts.maxLines ?? defaultLogMaxLines);
    this.flushing = this.flushing.then(async () => {
      const pipe = this.redis.pipeline();
      for (const [time, step, line] of batch) pipe.xadd(this.key, "MAXLEN", "~", max, "*", "t", time, "s", step, "l", line);
      // `~` trims in whole macro nodes (cheap); the exact trim once per batch keeps the cap exact.
      if (batch.length) pipe.xtrim(this.key, "MAXLEN", max);
      if (endStatus !== undefined) {
        pipe.xadd(this.key, "MAXLEN", max, "*", "t", new Date().toISOString(), "end", endStatus);
        if (this.opts.recordKey) (pipe as FollowPipeline).hoistFollowRecordTtl(this.key, this.opts.recordKey);
      }
      await pipe.exec().catch(() => undefined);
    });
    return this.flushing;
  }
}

function toEntry(id: string, fields: string[]): LogEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
  if (f.end !== undefined) return { id, kind: "end", time: f.t ?? "", status: f.end };
  return { id, kind: "line", time: f.t ?? "", step: f.s ?? "", line: f.l ?? "" };
}

/** Entries after `afterId` (exclusive; "0" for all), oldest first. */
export async function readLog(redis: Redis, key: string, opts: { afterId?: string; count?: number } = {}): Promise<LogEntry[]> {
  const start = opts.afterId && opts.afterId !== "0" ? `(${opts.afterId}` : "-";
  const rows = opts.count ? await redis.xrange(key, start, "+", "COUNT", opts.count) : await redis.xrange(key, start, "+");
  return rows.map(([id, fields]) => toEntry(id, fields));
}

/**
 * Yields entries as they arrive, from after `afterId`, until an end marker, until `isOver()`
 * says the work ended without one (a crashed writer), or until `signal` aborts. `blocking` must
 * be a connection of its own: XREAD BLOCK holds it.
 */
export async function* followLog(
  blocking: Redis,
  key: string,
  opts: { afterId?: string; signal?: AbortSignal; isOver?: () => Promise<boolean>; blockMs?: number } = {},
): AsyncGenerator<LogEntry> {
  let last = opts.afterId ?? "0";
  while (!opts.signal?.aborted) {
    const res = await blocking.xread("COUNT", 500, "BLOCK", opts.blockMs ?? 1000, "STREAMS", key, last);
    const rows = res?.[0]?.[1] ?? [];
    for (const [id, fields] of rows) {
      last = id;
      const entry = toEntry(id, fields);
      yield entry;
      if (entry.kind === "end") return;
    }
    if (rows.length === 0 && opts.isOver && (await opts.isOver())) {
      // One last read: the end marker may have landed between the block and the check.
      for (const entry of await readLog(blocking, key, { afterId: last })) {
        yield entry;
        if (entry.kind === "end") return;
      }
      return;
    }
  }
}
