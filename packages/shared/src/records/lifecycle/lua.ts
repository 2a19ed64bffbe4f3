import { destinationRules } from "../../pipeline/notifications.js";
import { statusEvents, transitions } from "./table.js";

/**
 * The Lua every lifecycle script starts with. The transition table, the status → event map and
 * the destination rules are serialised into it from their TypeScript data, so the scripts follow
 * the same rules as the TypeScript checks, never a hand-typed copy. Statuses are stored as JSON
 * (`"live"`), like every record field.
 *
 * Each script's ARGV[1] is a JSON context: { appPrefix, nowMs, trace?, token? }.
 * `move` checks a status change against the table (and the caller's narrower `from`, if any) and
 * sets the fields; `emit` writes the notify jobs of the status a record entered into the outbox
 * (a sorted set scored by time, member = the job's payload JSON), in the same script, so a
 * status change and its notifications are stored together or not at all.
 */
export const PRELUDE = `
local T = cjson.decode([=[${JSON.stringify(transitions)}]=])
local E = cjson.decode([=[${JSON.stringify(statusEvents)}]=])
local R = cjson.decode([=[${JSON.stringify(destinationRules)}]=])
local a = cjson.decode(ARGV[1])
local function has(list, v)
  for _, x in ipairs(list or {}) do if x == v then return true end end
  return false
end
-- Never raises: a script that failed after its first write would keep that write (Redis does
-- not roll scripts back), so a status change would be stored without its events.
local function field(key, f)
  local raw = redis.call('HGET', key, f)
  if not raw then return nil end
  local ok, v = pcall(cjson.decode, raw)
  if ok then return v end
  return nil
end
local function fenced(lockKey)
  return a.token == nil or redis.call('GET', lockKey) == a.token
end
local function emitEvent(outbox, kind, key, id, event, status)
  local app = field(key, 'app') or ''
  local appKey = a.appPrefix .. app
  local known = redis.call('EXISTS', appKey) == 1
  local p = { event = event, app = app }
  if kind == 'build' then
    p.buildId = id
    if status == 'succeeded' then p.releaseId = field(key, 'releaseId') end
  else
    p.buildId = field(key, 'buildId')
    p.releaseId = id
    p.environment = field(key, 'environment') or 'production'
  end
  if a.trace then p.trace = a.trace end
  local out = {}
  for _, rule in ipairs(R) do
    local ok
    if rule.events then ok = has(rule.events, event)
    else ok = (not known) or redis.call('HEXISTS', appKey, rule.appField) == 1 end
    if ok then
      p.kind = rule.kind
      local m = cjson.encode(p)
      redis.call('ZADD', outbox, 'NX', a.nowMs, m)
      out[#out + 1] = m
    end
  end
  return out
end
local function emit(outbox, kind, key, id, status)
  local event = E[kind][status]
  if not event then return {} end
  return emitEvent(outbox, kind, key, id, event, status)
end
local function move(kind, key, to, from, sets)
  local raw = redis.call('HGET', key, 'status')
  if not raw then return -1, '' end
  local cur = cjson.decode(raw)
  if (from and not has(from, cur)) or not has(T[kind][cur], to) then return 0, raw end
  redis.call('HSET', key, 'status', cjson.encode(to), unpack(sets or {}))
  return 1, raw
end
`;

/**
 * One status change of a build or release. KEYS: record, outbox, lock (the record again when
 * unfenced). ARGV: context, then JSON { kind, id, to, from?, set: field/value pairs (JSON values) }.
 * Returns {1, old status, record fields, outbox members}, {0, current status}, {-1} missing,
 * {-2} lock lost.
 */
export const MOVE = `${PRELUDE}
if not fenced(KEYS[3]) then return {-2, ''} end
local m = cjson.decode(ARGV[2])
local code, cur = move(m.kind, KEYS[1], m.to, m.from, m.set)
if code ~= 1 then return {code, cur} end
return {1, cur, redis.call('HGETALL', KEYS[1]), emit(KEYS[2], m.kind, KEYS[1], m.id, m.to)}`;

/**
 * Starts (or resumes, after a crash) a release's deploy. KEYS: lock, release, app's release
 * index, outbox. ARGV: context, now (JSON), release number, release key prefix, release id.
 * Returns {1, old status, members} when deploying, {0, status} when it cannot deploy any more
 * (finished), {2, newer id, members} when superseded (recorded as failed), {-1} missing, {-2} lock lost.
 */
export const BEGIN = `${PRELUDE}
if not fenced(KEYS[1]) then return {-2, ''} end
local raw = redis.call('HGET', KEYS[2], 'status')
if not raw then return {-1, ''} end
if not has(T.release[cjson.decode(raw)], 'deploying') then return {0, raw} end
local newer = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[3], '+inf')
for _, id in ipairs(newer) do
  local st = field(ARGV[4] .. id, 'status')
  if st == 'live' or st == 'deploying' then
    move('release', KEYS[2], 'failed', nil, {'reason', '"superseded"', 'finishedAt', ARGV[2]})
    return {2, id, emit(KEYS[4], 'release', KEYS[2], ARGV[5], 'failed')}
  end
end
move('release', KEYS[2], 'deploying', nil, {'deployingAt', ARGV[2]})
return {1, raw, emit(KEYS[4], 'release', KEYS[2], ARGV[5], 'deploying')}`;

/**
 * Makes a deploying release live and the one it replaces retired (or rolled_back, when this
 * release undoes it), in one step. KEYS: lock, release, app's live pointer, outbox. ARGV:
 * context, now (JSON), release key prefix, id of the release this one rolls back ('' if none),
 * release id, build key prefix, retention ms, the app's environments index, live pointer prefix.
 * Returns {1, replaced id or '', members}, {0, status} when not deploying, {-2} lock lost.
 */
export const GO_LIVE = `${PRELUDE}
if not fenced(KEYS[1]) then return {-2, ''} end
local code, cur = move('release', KEYS[2], 'live', {'deploying'}, {'liveAt', ARGV[2]})
if code ~= 1 then return {0, cur} end
redis.call('HDEL', KEYS[2], 'reason')
local out = emit(KEYS[4], 'release', KEYS[2], ARGV[5], 'live')
local prev = redis.call('GET', KEYS[3])
local replaced = ''
if prev and prev ~= ARGV[5] then
  local st = 'retired'
  if prev == ARGV[4] then st = 'rolled_back' end
  if move('release', ARGV[3] .. prev, st, {'live'}, {'finishedAt', ARGV[2]}) == 1 then
    replaced = prev
    for _, m in ipairs(emit(KEYS[4], 'release', ARGV[3] .. prev, prev, st)) do out[#out + 1] = m end
  end
end
redis.call('SET', KEYS[3], ARGV[5])
-- Retention (records/retention.ts), in the same round trip: the live release and its build (and
-- their logs) are kept while live; the replaced release expires, and its build too unless a
-- release live in another environment of the app (or this one, a rollback's) runs it.
local ttl = ARGV[7]
local function keep(k) redis.call('PERSIST', k); redis.call('PERSIST', k .. ':log') end
local function expire(k) redis.call('PEXPIRE', k, ttl); redis.call('PEXPIRE', k .. ':log', ttl) end
keep(KEYS[2])
local liveBuild = field(KEYS[2], 'buildId')
if liveBuild then keep(ARGV[6] .. liveBuild) end
if replaced ~= '' then
  local oldKey = ARGV[3] .. replaced
  local oldBuild = field(oldKey, 'buildId')
  expire(oldKey)
  if oldBuild and oldBuild ~= liveBuild then
    local app = field(KEYS[2], 'app') or ''
    local envs = redis.call('ZRANGE', ARGV[8], 0, -1)
    table.insert(envs, 1, 'production')
    local running = false
    for _, e in ipairs(envs) do
      local unit = app
      if e ~= 'production' then unit = app .. '@' .. e end
      local id = redis.call('GET', ARGV[9] .. unit)
      if id and field(ARGV[3] .. id, 'buildId') == oldBuild then running = true; break end
    end
    if not running then expire(ARGV[6] .. oldBuild) end
  end
end
return {1, replaced, out}`;
