import type { Redis } from "ioredis";
import { PRELUDE } from "./lua.js";

/**
 * The scripts of a release's gates (approvals, freezes), on the same PRELUDE as every lifecycle
 * script: the transition table and the status → event map are the TypeScript data's, and each
 * status change writes its notify jobs in the same script.
 */

/**
 * Holds a release before it deploys: pending, awaiting_approval or frozen → `to`
 * (awaiting_approval or frozen), fields set. A release entering awaiting_approval supersedes the
 * older ones of its environment that still await approval (failed, `superseded by release #n`):
 * only the newest waits. KEYS: release, the app's release index, outbox. ARGV: context, JSON
 * { id, to, set: field/value pairs (JSON values), prefix: release key prefix, now: JSON time }.
 * Returns {1, old status, members, superseded ids}, {0, current status} when it cannot move
 * there (already there, or past the gates), {-1} missing.
 */
const HOLD = `${PRELUDE}
local m = cjson.decode(ARGV[2])
local code, cur = move('release', KEYS[1], m.to, {'pending', 'awaiting_approval', 'frozen'}, m.set)
if code ~= 1 then return {code, cur} end
local out = emit(KEYS[3], 'release', KEYS[1], m.id, m.to)
local superseded = {}
if m.to == 'awaiting_approval' then
  local env = field(KEYS[1], 'environment') or 'production'
  local number = field(KEYS[1], 'number') or 0
  local older = redis.call('ZREVRANGEBYSCORE', KEYS[2], '(' .. number, '-inf', 'LIMIT', 0, 500)
  for _, id in ipairs(older) do
    local k = m.prefix .. id
    if field(k, 'status') == 'awaiting_approval' and (field(k, 'environment') or 'production') == env then
      local reason = cjson.encode('superseded by release #' .. number .. ', which awaits approval now')
      if move('release', k, 'failed', {'awaiting_approval'}, {'reason', reason, 'finishedAt', m.now}) == 1 then
        for _, x in ipairs(emit(KEYS[3], 'release', k, id, 'failed')) do out[#out + 1] = x end
        superseded[#superseded + 1] = id
      end
    end
  end
end
return {1, cur, out, superseded}`;

/**
 * Adds one person's approval to a release awaiting approval, atomically: the same person twice
 * counts once. When the approvals reach `requiredApprovals`, release.approved is written.
 * KEYS: release, outbox. ARGV: context, JSON { id, approval: { by, name, via, at } }.
 * Returns {1 added | 2 already counted, count, members}, {0, current status}, {-1} missing.
 */
const APPROVE = `${PRELUDE}
local raw = redis.call('HGET', KEYS[1], 'status')
if not raw then return {-1, ''} end
if cjson.decode(raw) ~= 'awaiting_approval' then return {0, raw} end
local m = cjson.decode(ARGV[2])
local list = field(KEYS[1], 'approvals') or {}
for _, a in ipairs(list) do
  if a.by == m.approval.by then return {2, tostring(#list), {}} end
end
list[#list + 1] = m.approval
redis.call('HSET', KEYS[1], 'approvals', cjson.encode(list))
local out = {}
if #list >= (field(KEYS[1], 'requiredApprovals') or 0) then
  out = emitEvent(KEYS[2], 'release', KEYS[1], m.id, 'release.approved', 'awaiting_approval')
end
return {1, tostring(#list), out}`;

/**
 * Sets fields on a release while its status is one of `from` (no status change, no event).
 * KEYS: release. ARGV: context, JSON { from, set: field/value pairs }. Returns {1, status},
 * {0, current status}, {-1} missing.
 */
const AMEND = `${PRELUDE}
local m = cjson.decode(ARGV[2])
local raw = redis.call('HGET', KEYS[1], 'status')
if not raw then return {-1, ''} end
if not has(m.from, cjson.decode(raw)) then return {0, raw} end
redis.call('HSET', KEYS[1], unpack(m.set))
return {1, raw}`;

interface GateScripts {
  hold(keys: [release: string, index: string, outbox: string], ctx: string, arg: string): Promise<[number, string, string[]?, string[]?]>;
  approve(keys: [release: string, outbox: string], ctx: string, arg: string): Promise<[number, string, string[]?]>;
  amend(keys: [release: string], ctx: string, arg: string): Promise<[number, string]>;
}

const defined = new WeakSet<Redis>();

export function gateScripts(redis: Redis): GateScripts {
  if (!defined.has(redis)) {
    redis.defineCommand("hoistGateHold", { numberOfKeys: 3, lua: HOLD });
    redis.defineCommand("hoistGateApprove", { numberOfKeys: 2, lua: APPROVE });
    redis.defineCommand("hoistGateAmend", { numberOfKeys: 1, lua: AMEND });
    defined.add(redis);
  }
  const r = redis as unknown as Record<string, (...args: string[]) => Promise<never>>;
  return {
    hold: (keys, ctx, arg) => r.hoistGateHold!(...keys, ctx, arg),
    approve: (keys, ctx, arg) => r.hoistGateApprove!(...keys, ctx, arg),
    amend: (keys, ctx, arg) => r.hoistGateAmend!(...keys, ctx, arg),
  };
}
