import type { Records, Redis, Release } from "@hoist/shared";
import { LockLostError } from "../domain/lock.js";

const TERMINAL = `local terminal = { ['"live"'] = true, ['"retired"'] = true, ['"failed"'] = true, ['"rolled_back"'] = true }`;

/**
 * Starts (or resumes, after a crash) a deploy. KEYS: lock, release, app's release index.
 * ARGV: fencing token, now (JSON), release number, release key prefix.
 * Returns {1, old status} when deploying, {0, status} when already finished, {2, newer id} when
 * superseded (recorded as failed), {-1} missing, {-2} lock lost.
 */
const BEGIN = `
${TERMINAL}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-2, ''} end
local cur = redis.call('HGET', KEYS[2], 'status')
if not cur then return {-1, ''} end
if terminal[cur] then return {0, cur} end
local newer = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[3], '+inf')
for _, id in ipairs(newer) do
  local st = redis.call('HGET', ARGV[4] .. id, 'status')
  if st == '"live"' or st == '"deploying"' then
    redis.call('HSET', KEYS[2], 'status', '"failed"', 'reason', '"superseded"', 'finishedAt', ARGV[2])
    return {2, id}
  end
end
redis.call('HSET', KEYS[2], 'status', '"deploying"', 'deployingAt', ARGV[2])
return {1, cur}`;

/**
 * Makes a deploying release live and the one it replaces retired (or rolled_back, when this
 * release undoes it), in one step. KEYS: lock, release, app's live pointer. ARGV: token, now
 * (JSON), release key prefix, id of the release this one rolls back ('' if none), release id.
 * Returns {1, replaced id or ''}, {0, status} when not deploying, {-2} lock lost.
 */
const GO_LIVE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-2, ''} end
local cur = redis.call('HGET', KEYS[2], 'status')
if cur ~= '"deploying"' then return {0, cur or ''} end
local prev = redis.call('GET', KEYS[3])
local replaced = ''
if prev and prev ~= ARGV[5] then
  local pk = ARGV[3] .. prev
  if redis.call('HGET', pk, 'status') == '"live"' then
    local st = '"retired"'
    if prev == ARGV[4] then st = '"rolled_back"' end
    redis.call('HSET', pk, 'status', st, 'finishedAt', ARGV[2])
    replaced = prev
  end
end
redis.call('HSET', KEYS[2], 'status', '"live"', 'liveAt', ARGV[2])
redis.call('HDEL', KEYS[2], 'reason')
redis.call('SET', KEYS[3], ARGV[5])
return {1, replaced}`;

/** Fails a pending or deploying release. KEYS: lock, release. ARGV: token ('' = unfenced), reason (JSON), now (JSON). */
const FAIL = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-2, ''} end
local cur = redis.call('HGET', KEYS[2], 'status')
if cur ~= '"pending"' and cur ~= '"deploying"' then return {0, cur or ''} end
redis.call('HSET', KEYS[2], 'status', '"failed"', 'reason', ARGV[2], 'finishedAt', ARGV[3])
return {1, cur}`;

export type BeginResult =
  | { kind: "deploying" }
  | { kind: "finished"; status: Release["status"] }
  | { kind: "superseded"; by: string }
  | { kind: "missing" };

type Scripts = {
  hoistRelBegin(lock: string, rel: string, idx: string, ...argv: string[]): Promise<[number, string]>;
  hoistRelGoLive(lock: string, rel: string, live: string, ...argv: string[]): Promise<[number, string]>;
  hoistRelFail(lock: string, rel: string, ...argv: string[]): Promise<[number, string]>;
};
const defined = new WeakSet<Redis>();

export function livePointerKey(prefix: string, app: string): string {
  return `${prefix}:deployer:live:${app}`;
}

/** Release state changes of a deploy, each one atomic and fenced by the app lock's token. */
export class ReleaseStore {
  private readonly s: Scripts;

  constructor(
    redis: Redis,
    private readonly records: Records,
    private readonly prefix: string,
  ) {
    if (!defined.has(redis)) {
      redis.defineCommand("hoistRelBegin", { numberOfKeys: 3, lua: BEGIN });
      redis.defineCommand("hoistRelGoLive", { numberOfKeys: 3, lua: GO_LIVE });
      redis.defineCommand("hoistRelFail", { numberOfKeys: 2, lua: FAIL });
      defined.add(redis);
    }
    this.s = redis as unknown as Scripts;
  }

  private get releaseKeyPrefix(): string {
    return this.records.keys.release("");
  }

  async begin(release: Release, lock: { key: string; token: string }): Promise<BeginResult> {
    const [code, val] = await this.s.hoistRelBegin(
      lock.key,
      this.records.keys.release(release.id),
      this.records.keys.appReleases(release.app),
      lock.token,
      JSON.stringify(new Date().toISOString()),
      String(release.number),
      this.releaseKeyPrefix,
    );
    if (code === -2) throw new LockLostError(`lost the deploy lock of app ${release.app} before release ${release.id} started`);
    if (code === -1) return { kind: "missing" };
    if (code === 0) return { kind: "finished", status: JSON.parse(val) as Release["status"] };
    if (code === 2) return { kind: "superseded", by: val };
    return { kind: "deploying" };
  }

  /** Returns the id of the release that was live before, if any. */
  async goLive(release: Release, lock: { key: string; token: string }): Promise<{ replaced?: string; rolledBack: boolean }> {
    const [code, val] = await this.s.hoistRelGoLive(
      lock.key,
      this.records.keys.release(release.id),
      livePointerKey(this.prefix, release.app),
      lock.token,
      JSON.stringify(new Date().toISOString()),
      this.releaseKeyPrefix,
      release.rollbackOf ?? "",
      release.id,
    );
    if (code === -2) throw new LockLostError(`lost the deploy lock of app ${release.app} before release ${release.id} went live`);
    if (code === 0) throw new Error(`release ${release.id} is ${val || "missing"}, not deploying; it cannot go live`);
    await this.records.releases.retainLive(release, val || undefined);
    return val ? { replaced: val, rolledBack: val === release.rollbackOf } : { rolledBack: false };
  }

  /** False when the release had already finished. Without a lock (token ''), only for giving up on a dead job. */
  async fail(release: Release, reason: string, lock: { key: string; token: string } | undefined): Promise<boolean> {
    const [code] = await this.s.hoistRelFail(
      lock?.key ?? this.records.keys.release(release.id),
      this.records.keys.release(release.id),
      lock?.token ?? "",
      JSON.stringify(reason),
      JSON.stringify(new Date().toISOString()),
    );
    if (code === -2) throw new LockLostError(`lost the deploy lock of app ${release.app} before release ${release.id} could be failed`);
    if (code === 1) await this.records.releases.expireFailed(release.id);
    return code === 1;
  }
}
