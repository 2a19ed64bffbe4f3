import type { Redis } from "@hoist/shared";

/** Renews only while the lock still holds our token. KEYS: lock. ARGV: token, ttl ms. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/** Releases only our own lock. KEYS: lock. ARGV: token. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Takes the lock with a fresh fencing token, or returns 0. KEYS: lock, fence counter. ARGV: ttl ms. */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token`;

export class LockLostError extends Error {
  override name = "LockLostError";
}

export interface HeldLock {
  readonly key: string;
  /** Strictly increasing per app: every state write checks it is still the lock's value (fencing). */
  readonly token: string;
  /** Rejects with LockLostError once a renewal finds the lock gone or taken over. */
  readonly lost: Promise<never>;
  assertHeld(): void;
  release(): Promise<void>;
}

export function lockKeys(prefix: string, app: string) {
  return { lock: `${prefix}:deployer:lock:${app}`, fence: `${prefix}:deployer:fence:${app}` };
}

const defined = new WeakSet<Redis>();
type Scripts = {
  hoistLockAcquire(lock: string, fence: string, ttl: number): Promise<number>;
  hoistLockRenew(lock: string, token: string, ttl: number): Promise<number>;
  hoistLockRelease(lock: string, token: string): Promise<number>;
};
function scripts(redis: Redis): Scripts {
  if (!defined.has(redis)) {
    redis.defineCommand("hoistLockAcquire", { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand("hoistLockRenew", { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand("hoistLockRelease", { numberOfKeys: 1, lua: RELEASE });
    defined.add(redis);
  }
  return redis as unknown as Scripts;
}

/**
 * One deploy per app across every deployer process. The lock expires after `ttlMs` unless its
 * holder renews it (every ttl/3), so a crashed holder frees the app; the fencing token lets the
 * release store refuse writes from a holder that lost the lock while paused.
 */
export async function tryAcquireAppLock(redis: Redis, prefix: string, app: string, ttlMs: number): Promise<HeldLock | undefined> {
  const keys = lockKeys(prefix, app);
  const s = scripts(redis);
  const raw = await s.hoistLockAcquire(keys.lock, keys.fence, ttlMs);
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
      await s.hoistLockRelease(keys.lock, token).catch(() => {});
    },
  };
}
