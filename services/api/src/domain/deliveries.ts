import { createHash } from "node:crypto";
import type { Redis } from "@hoist/shared";

/** GitLab can resend a delivery (with the same Idempotency-Key) much later; remember keys 48 h. */
export const DELIVERY_TTL_MS = 48 * 3600 * 1000;
/** While a delivery is being stored its claim is short-lived, so a crash mid-way cannot block a resend for long. */
export const CLAIM_TTL_MS = 60 * 1000;

/** The dedupe key of a delivery: GitLab's Idempotency-Key, or a hash of the body when absent. */
export function deliveryKey(idempotencyKey: string | undefined, body: Buffer): string {
  const basis = idempotencyKey?.trim() ? `key:${idempotencyKey.trim()}` : `body:${createHash("sha256").update(body).digest("hex")}`;
  return createHash("sha256").update(basis).digest("hex");
}

export function deliveryRedisKey(prefix: string, hookId: string, key: string): string {
  return `${prefix}:rec:hook:${hookId}:delivery:${key}`;
}

// SET NX is the atomic decision: of simultaneous deliveries exactly one claims the key.
const CLAIM = `
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if ok then return {1, ARGV[1]} end
return {0, redis.call('GET', KEYS[1])}`;

const defined = new WeakSet<Redis>();

/** Claims a delivery for `buildId`; when already claimed, returns the first delivery's build id. */
export async function claimDelivery(redis: Redis, key: string, buildId: string): Promise<{ claimed: boolean; buildId: string }> {
  if (!defined.has(redis)) {
    redis.defineCommand("hoistClaimDelivery", { numberOfKeys: 1, lua: CLAIM });
    defined.add(redis);
  }
  const r = redis as unknown as { hoistClaimDelivery(key: string, id: string, ttl: number): Promise<[number, string]> };
  const [claimed, id] = await r.hoistClaimDelivery(key, buildId, CLAIM_TTL_MS);
  return { claimed: claimed === 1, buildId: id };
}

/** The build is stored: keep the claim for the resend window. */
export async function confirmDelivery(redis: Redis, key: string): Promise<void> {
  await redis.pexpire(key, DELIVERY_TTL_MS);
}

/** Storing failed: drop the claim so GitLab's resend is not taken for a duplicate. */
export async function releaseDelivery(redis: Redis, key: string, buildId: string): Promise<void> {
  const current = await redis.get(key);
  if (current === buildId) await redis.del(key);
}
