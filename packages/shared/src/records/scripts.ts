import type { Redis } from "ioredis";
import { PRELUDE } from "./lifecycle/lua.js";

/** Creates a hash only if absent and indexes it. KEYS: record, index. ARGV: score, member, field/value pairs. */
const CREATE_UNIQUE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1`;

/**
 * As CREATE_UNIQUE, for an index read in creation order: two records made in the same
 * millisecond would tie and sort by name, so the score is at least one above the last one's.
 */
const CREATE_UNIQUE_LAST = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local score = tonumber(ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], score, ARGV[2])
return 1`;

/**
 * Numbers and creates a per-app record in its first status, unless it exists (returns {0}: a
 * retried step must not renumber or overwrite it), and writes the notify jobs of that status to
 * the outbox. KEYS: seq, record, index, outbox. ARGV: context (see lifecycle/lua.ts), kind,
 * member, field/value pairs. Returns {number, outbox members}.
 */
const CREATE_NUMBERED = `${PRELUDE}
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, {}} end
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'number', tostring(n), unpack(ARGV, 4))
redis.call('ZADD', KEYS[3], n, ARGV[3])
return {n, emit(KEYS[4], ARGV[2], KEYS[2], ARGV[3], field(KEYS[2], 'status'))}`;

/**
 * Numbers and creates a queued build unless a "once" key (e.g. a webhook delivery's dedupe key)
 * already names one, adds it to a second index and to the accepted index (scored by the caller's
 * clock), and writes its notify jobs to the outbox. KEYS: once, seq, record, index, open index,
 * accepted index, outbox. ARGV: context, member, the caller's clock (ms since the epoch), the
 * once key's expiry on that clock, field/value pairs. The key expires at that absolute time
 * (PXAT), and a key the caller's clock has passed counts as absent even if Redis still holds it
 * (so the window follows one clock, the caller's). Returns {1, number, open index members,
 * outbox members} when created, {0, member named by the once key} when not.
 */
const CREATE_NUMBERED_ONCE = `${PRELUDE}
local cur = redis.call('GET', KEYS[1])
if cur then
  local at = redis.call('PEXPIRETIME', KEYS[1])
  if at < 0 or tonumber(ARGV[3]) < at then return {0, cur} end
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[4])
local n = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], 'number', tostring(n), unpack(ARGV, 5))
redis.call('ZADD', KEYS[4], n, ARGV[2])
redis.call('ZADD', KEYS[5], n, ARGV[2])
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[2])
return {1, n, redis.call('ZRANGE', KEYS[5], 0, -1), emit(KEYS[7], 'build', KEYS[3], ARGV[2], 'queued')}`;

/**
 * Undoes CREATE_NUMBERED_ONCE, its notify jobs included. KEYS: once, record, index, open index,
 * accepted index, outbox. ARGV: member, outbox members.
 */
const UNDO_CREATE_ONCE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
if #ARGV > 1 then redis.call('ZREM', KEYS[6], unpack(ARGV, 2)) end
return 1`;

/** Drops a once key only while it still names ARGV[1]. KEYS: once. */
const RELEASE_ONCE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Sets fields only on an existing record. KEYS: record. ARGV: field/value pairs. */
const PATCH_EXISTING = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`;

/**
 * Sets (or, given '', removes) one field only while it still holds the value the caller read
 * ('' = absent), with other field/value pairs. KEYS: record. ARGV: field, expected, next, pairs.
 * Returns 1 when set, 0 when the field changed meanwhile, -1 when the record is missing.
 */
const COMPARE_AND_SET = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
return 1`;

export interface RecordScripts {
  createUnique(record: string, index: string, score: number, member: string, ...fields: string[]): Promise<number>;
  /** createUnique whose index keeps creation order even within one millisecond. */
  createUniqueLast(record: string, index: string, score: number, member: string, ...fields: string[]): Promise<number>;
  createNumbered(
    keys: { seq: string; record: string; index: string; outbox: string },
    ctx: string,
    kind: "build" | "release",
    member: string,
    ...fields: string[]
  ): Promise<[number, string[]]>;
  createNumberedOnce(
    keys: { once: string; seq: string; record: string; index: string; openIndex: string; acceptedIndex: string; outbox: string },
    ctx: string,
    member: string,
    now: number,
    expiresAt: number,
    ...fields: string[]
  ): Promise<[1, number, string[], string[]] | [0, string]>;
  undoCreateOnce(
    keys: { once: string; record: string; index: string; openIndex: string; acceptedIndex: string; outbox: string },
    member: string,
    outboxMembers: string[],
  ): Promise<number>;
  releaseOnce(once: string, member: string): Promise<number>;
  patchExisting(record: string, ...fields: string[]): Promise<number>;
  compareAndSet(record: string, field: string, expected: string, next: string, ...fields: string[]): Promise<number>;
}

const defined = new WeakSet<Redis>();

export function recordScripts(redis: Redis): RecordScripts {
  if (!defined.has(redis)) {
    redis.defineCommand("hoistCreateUnique", { numberOfKeys: 2, lua: CREATE_UNIQUE });
    redis.defineCommand("hoistCreateUniqueLast", { numberOfKeys: 2, lua: CREATE_UNIQUE_LAST });
    redis.defineCommand("hoistCreateNumbered", { numberOfKeys: 4, lua: CREATE_NUMBERED });
    redis.defineCommand("hoistCreateNumberedOnce", { numberOfKeys: 7, lua: CREATE_NUMBERED_ONCE });
    redis.defineCommand("hoistUndoCreateOnce", { numberOfKeys: 6, lua: UNDO_CREATE_ONCE });
    redis.defineCommand("hoistReleaseOnce", { numberOfKeys: 1, lua: RELEASE_ONCE });
    redis.defineCommand("hoistPatchExisting", { numberOfKeys: 1, lua: PATCH_EXISTING });
    redis.defineCommand("hoistCompareAndSet", { numberOfKeys: 1, lua: COMPARE_AND_SET });
    defined.add(redis);
  }
  const r = redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  return {
    createUnique: (record, index, score, member, ...fields) =>
      r.hoistCreateUnique!(record, index, score, member, ...fields) as Promise<number>,
    createUniqueLast: (record, index, score, member, ...fields) =>
      r.hoistCreateUniqueLast!(record, index, score, member, ...fields) as Promise<number>,
    createNumbered: (k, ctx, kind, member, ...fields) =>
      r.hoistCreateNumbered!(k.seq, k.record, k.index, k.outbox, ctx, kind, member, ...fields) as Promise<[number, string[]]>,
    createNumberedOnce: (k, ctx, member, now, expiresAt, ...fields) =>
      r.hoistCreateNumberedOnce!(
        k.once,
        k.seq,
        k.record,
        k.index,
        k.openIndex,
        k.acceptedIndex,
        k.outbox,
        ctx,
        member,
        now,
        expiresAt,
        ...fields,
      ) as Promise<[1, number, string[], string[]] | [0, string]>,
    undoCreateOnce: (k, member, outboxMembers) =>
      r.hoistUndoCreateOnce!(
        k.once,
        k.record,
        k.index,
        k.openIndex,
        k.acceptedIndex,
        k.outbox,
        member,
        ...outboxMembers,
      ) as Promise<number>,
    releaseOnce: (once, member) => r.hoistReleaseOnce!(once, member) as Promise<number>,
    patchExisting: (record, ...fields) => r.hoistPatchExisting!(record, ...fields) as Promise<number>,
    compareAndSet: (record, field, expected, next, ...fields) =>
      r.hoistCompareAndSet!(record, field, expected, next, ...fields) as Promise<number>,
  };
}
