import type { Redis } from "ioredis";

/** Creates a hash only if absent and indexes it. KEYS: record, index. ARGV: score, member, field/value pairs. */
const CREATE_UNIQUE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1`;

/**
 * Numbers and creates a per-app record, unless it exists (returns 0: a retried step must not
 * renumber or overwrite it). KEYS: seq, record, index. ARGV: member, field/value pairs.
 */
const CREATE_NUMBERED = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'number', tostring(n), unpack(ARGV, 2))
redis.call('ZADD', KEYS[3], n, ARGV[1])
return n`;

/**
 * Numbers and creates a per-app record unless a "once" key (e.g. a webhook delivery's dedupe key)
 * already names one, and adds it to a second index and to the accepted index (scored by the
 * caller's clock). KEYS: once, seq, record, index, open index, accepted index. ARGV: member, the
 * caller's clock (ms since the epoch), the once key's expiry on that clock, field/value pairs.
 * The key expires at that absolute time (PXAT), and a key the caller's clock has passed counts as
 * absent even if Redis still holds it (so the window follows one clock, the caller's). Returns
 * {1, number, open index members} when created, {0, member named by the once key} when not.
 */
const CREATE_NUMBERED_ONCE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local at = redis.call('PEXPIRETIME', KEYS[1])
  if at < 0 or tonumber(ARGV[2]) < at then return {0, cur} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3])
local n = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], 'number', tostring(n), unpack(ARGV, 4))
redis.call('ZADD', KEYS[4], n, ARGV[1])
redis.call('ZADD', KEYS[5], n, ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
return {1, n, redis.call('ZRANGE', KEYS[5], 0, -1)}`;

/** Undoes CREATE_NUMBERED_ONCE. KEYS: once, record, index, open index, accepted index. ARGV: member. */
const UNDO_CREATE_ONCE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1`;

/** Drops a once key only while it still names ARGV[1]. KEYS: once. */
const RELEASE_ONCE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Moves a record's status only from an allowed one. KEYS: record. ARGV: count of allowed
 * (JSON-encoded) statuses, the statuses, then field/value pairs to set. Returns {1, old, the
 * record's fields after the move} when moved (saving the caller a read), {0, current} when the
 * current status is not allowed, {-1} when missing.
 */
const TRANSITION = `
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {-1, ''} end
local n = tonumber(ARGV[1])
for i = 2, n + 1 do
  if ARGV[i] == cur then
    redis.call('HSET', KEYS[1], unpack(ARGV, n + 2))
    return {1, cur, redis.call('HGETALL', KEYS[1])}
  end
end
return {0, cur}`;

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
  createNumbered(seq: string, record: string, index: string, member: string, ...fields: string[]): Promise<number>;
  createNumberedOnce(
    once: string,
    seq: string,
    record: string,
    index: string,
    openIndex: string,
    acceptedIndex: string,
    member: string,
    now: number,
    expiresAt: number,
    ...fields: string[]
  ): Promise<[1, number, string[]] | [0, string]>;
  undoCreateOnce(once: string, record: string, index: string, openIndex: string, acceptedIndex: string, member: string): Promise<number>;
  releaseOnce(once: string, member: string): Promise<number>;
  transition(record: string, allowedCount: number, ...rest: string[]): Promise<[number, string, string[]?]>;
  patchExisting(record: string, ...fields: string[]): Promise<number>;
  compareAndSet(record: string, field: string, expected: string, next: string, ...fields: string[]): Promise<number>;
}

const defined = new WeakSet<Redis>();

export function recordScripts(redis: Redis): RecordScripts {
  if (!defined.has(redis)) {
    redis.defineCommand("hoistCreateUnique", { numberOfKeys: 2, lua: CREATE_UNIQUE });
    redis.defineCommand("hoistCreateNumbered", { numberOfKeys: 3, lua: CREATE_NUMBERED });
    redis.defineCommand("hoistCreateNumberedOnce", { numberOfKeys: 6, lua: CREATE_NUMBERED_ONCE });
    redis.defineCommand("hoistUndoCreateOnce", { numberOfKeys: 5, lua: UNDO_CREATE_ONCE });
    redis.defineCommand("hoistReleaseOnce", { numberOfKeys: 1, lua: RELEASE_ONCE });
    redis.defineCommand("hoistTransition", { numberOfKeys: 1, lua: TRANSITION });
    redis.defineCommand("hoistPatchExisting", { numberOfKeys: 1, lua: PATCH_EXISTING });
    redis.defineCommand("hoistCompareAndSet", { numberOfKeys: 1, lua: COMPARE_AND_SET });
    defined.add(redis);
  }
  const r = redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  return {
    createUnique: (record, index, score, member, ...fields) =>
      r.hoistCreateUnique!(record, index, score, member, ...fields) as Promise<number>,
    createNumbered: (seq, record, index, member, ...fields) =>
      r.hoistCreateNumbered!(seq, record, index, member, ...fields) as Promise<number>,
    createNumberedOnce: (once, seq, record, index, openIndex, acceptedIndex, member, now, expiresAt, ...fields) =>
      r.hoistCreateNumberedOnce!(once, seq, record, index, openIndex, acceptedIndex, member, now, expiresAt, ...fields) as Promise<
        [1, number, string[]] | [0, string]
      >,
    undoCreateOnce: (once, record, index, openIndex, acceptedIndex, member) =>
      r.hoistUndoCreateOnce!(once, record, index, openIndex, acceptedIndex, member) as Promise<number>,
    releaseOnce: (once, member) => r.hoistReleaseOnce!(once, member) as Promise<number>,
    transition: (record, allowedCount, ...rest) =>
      r.hoistTransition!(record, allowedCount, ...rest) as Promise<[number, string, string[]?]>,
    patchExisting: (record, ...fields) => r.hoistPatchExisting!(record, ...fields) as Promise<number>,
    compareAndSet: (record, field, expected, next, ...fields) =>
      r.hoistCompareAndSet!(record, field, expected, next, ...fields) as Promise<number>,
  };
}
