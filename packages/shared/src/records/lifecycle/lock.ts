import type { Redis } from "ioredis";
import { recordKeys } from "../keys.js";
import { LockLostError } from "./move.js";

/** Renews only while the lock still holds our token. KEYS: lock. ARGV: token, ttl ms. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/**
 * Releases only our own lock and hands back the deploys that wait for it (to wake them now, not
 * at their next retry). KEYS: lock, waiters. ARGV: token.
 */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {} end
redis.call('DEL', KEYS[1])
local waiting = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
return waiting`;

/** How long a waiter stays registered without a release to wake it: a day (its retry wakes it anyway). */
const WAITERS_TTL_MS = 24 * 3600 * 1000;

/**
 * Takes the lock with a fresh fencing token, or returns 0 and registers ARGV[2] (if given) as a
 * waiter. KEYS: lock, fence counter, waiters. ARGV: ttl ms, waiter.
 */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[2] ~= '' then
    redis.call('SADD', KEYS[3], ARGV[2])
    redis.call('PEXPIRE', KEYS[3], ${WAITERS_TTL_MS})
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token`;

/**
 * A waiter about to sleep: registers it while the lock is held (1), or says the lock is free
 * already (0: the release came before the waiter could be woken). KEYS: lock, waiters. ARGV: waiter.
 */
const WAIT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ${WAITERS_TTL_MS})
return 1`;

export interface HeldLock {
  readonly key: string;
  /** Strictly increasing per app: every state write checks it is still the lock's value (fencing). */
  readonly token: string;
  /** Rejects with LockLostError once a renewal finds the lock gone or taken over. */
  readonly lost: Promise<never>;
  assertHeld(): void;
  release(): Promise<void>;
}

/** A deploy unit's lock, fencing counter and waiters, from the key catalog. */
export function lockKeys(prefix: string, unit: string) {
  const keys = recordKeys(prefix);
  return { lock: keys.deployLock(unit), fence: keys.deployFence(unit), waiters: keys.deployWaiters(unit) };
}

const defined = new WeakSet<Redis>();
type Scripts = {
  hoistLockAcquire(lock: string, fence: string, waiters: string, ttl: number, waiter: string): Promise<number>;
  hoistLockRenew(lock: string, token: string, ttl: number): Promise<number>;
  hoistLockRelease(lock: string, waiters: string, token: string): Promise<string[]>;
  hoistLockWait(lock: string, waiters: string, waiter: string): Promise<number>;
};
function scripts(redis: Redis): Scripts {
  if (!defined.has(redis)) {
    redis.defineCommand("hoistLockAcquire", { numberOfKeys: 3, lua: ACQUIRE });
    redis.defineCommand("hoistLockRenew", { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand("hoistLockRelease", { numberOfKeys: 2, lua: RELEASE });
    redis.defineCommand("hoistLockWait", { numberOfKeys: 2, lua: WAIT });
    defined.add(redis);
  }
  return redis as unknown as Scripts;
}

interface LockWaiting {
  /** Registers this id as waiting when the lock is held (the holder's release hands it back). */
  waiter?: string;
  /** Called with the waiters a release handed back, to wake them. */
  wake?: (waiters: string[]) => Promise<void>;
}

/**
 * One deploy per deploy unit (an app's environment, `app` here being its unit: environments/names.ts
 * deployUnit; production's is the app's name) across every deployer process. The lock expires after `ttlMs` unless its
 * holder renews it (every ttl/3), so a crashed holder frees the app; the fencing token lets the
 * release lifecycle refuse writes from a holder that lost the lock while paused. A deploy that finds
 * the lock held is registered as a waiter and woken by the release (`wake`), so it does not wait
 * for its next retry.
 */
export async function tryAcquireAppLock(
  redis: Redis,
  prefix: string,
  app: string,
  ttlMs: number,
  waiting: LockWaiting = {},
): Promise<HeldLock | undefined> {
  const keys = lockKeys(prefix, app);
  const s = scripts(redis);
  const raw = await s.hoistLockAcquire(keys.lock, keys.fence, keys.waiters, ttlMs, waiting.waiter ?? "");
  if (!raw) return undefined;
  const token = String(raw);
  let lostErr: LockLostError | undefined;
  let rejectLost: (e: Error) => void = () => {};
  const lost = new Promise<never>((_, reject) => {
    rejectLost = reject;
  });
  // Callers race work against `lost`; an unobserved rejection must not crash the process.
  lost.catch(() => {});
  const markLost = (why: string) => {
    if (lostErr) return;
    lostErr = new LockLostError(`lost the deploy lock of app ${app}: ${why}`);
    rejectLost(lostErr);
  };
  const timer = setInterval(
    () => {
      s.hoistLockRenew(keys.lock, token, ttlMs).then(
        (ok) => {
          if (!ok) markLost("it expired or another deployer holds it now");
        },
        // A Redis hiccup is not a loss yet: the lock lives for ttl; the next renewal may succeed.
        () => {},
      );
    },
    Math.max(50, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return {
    key: keys.lock,
    token,
    lost,
    assertHeld() {
      if (lostErr) throw lostErr;
    },
    async release() {
      clearInterval(timer);
      const waiters = await s.hoistLockRelease(keys.lock, keys.waiters, token).catch(() => [] as string[]);
      if (waiters.length && waiting.wake) await waiting.wake(waiters).catch(() => {});
    },
  };
}

/**
 * For a deploy about to sleep until its retry: true when the lock is still held (the deploy is
 * registered, and the holder's release wakes it), false when it is free already (wake it now).
 */
export async function waitForAppLock(redis: Redis, prefix: string, app: string, waiter: string): Promise<boolean> {
  const keys = lockKeys(prefix, app);
  return (await scripts(redis).hoistLockWait(keys.lock, keys.waiters, waiter)) === 1;
}
