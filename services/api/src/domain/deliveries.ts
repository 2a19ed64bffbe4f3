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

// SET NX is the atomic decision: of simultaneous deliveries exactly one claims the key. While the
// claimant stores the build the value is "pending:<id>"; once stored it is "<id>".
const CLAIM = `
local ok = redis.call('SET', KEYS[1], 'pending:' .. ARGV[1], 'NX', 'PX', ARGV[2])
if ok then return {1, ARGV[1]} end
return {0, redis.call('GET', KEYS[1]) or ''}`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == 'pending:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const defined = new WeakSet<Redis>();
type Scripts = {
  hoistClaimDelivery(key: string, id: string, ttl: number): Promise<[number, string]>;
  hoistReleaseDelivery(key: string, id: string): Promise<number>;
};

function scripts(redis: Redis): Scripts {
  if (!defined.has(redis)) {
    redis.defineCommand("hoistClaimDelivery", { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand("hoistReleaseDelivery", { numberOfKeys: 1, lua: RELEASE });
    defined.add(redis);
  }
  return redis as unknown as Scripts;
}

export type ClaimOutcome = { claimed: true } | { claimed: false; buildId: string };

/** How long a second delivery waits for the first one (same key, still storing) to finish. */
const WAIT_FOR_FIRST_MS = 3_000;
const POLL_MS = 10;

/**
 * Claims a delivery for `buildId`. When another delivery with the same key already stored its
 * build, returns that build's id. When the other one is still storing, waits for it: it either
 * finishes (its id is returned) or fails and releases the claim (this delivery claims it), so a
 * duplicate is never answered with a build that then does not exist.
 */
export async function claimDelivery(redis: Redis, key: string, buildId: string): Promise<ClaimOutcome> {
  const deadline = Date.now() + WAIT_FOR_FIRST_MS;
  for (;;) {
    const [claimed, current] = await scripts(redis).hoistClaimDelivery(key, buildId, CLAIM_TTL_MS);
    if (claimed === 1) return { claimed: true };
    if (current && !current.startsWith("pending:")) return { claimed: false, buildId: current };
    if (Date.now() > deadline) throw new DeliveryBusyError();
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The first delivery with this key is still being stored after a while: let GitLab resend later. */
export class DeliveryBusyError extends Error {
  override name = "DeliveryBusyError";
  constructor() {
    super("an earlier delivery with the same Idempotency-Key is still being stored; resend shortly");
  }
}

/** The build is stored: keep the key, now naming the build, for the resend window. */
export async function confirmDelivery(redis: Redis, key: string, buildId: string): Promise<void> {
  await redis.set(key, buildId, "PX", DELIVERY_TTL_MS);
}

/** Storing failed: drop this delivery's claim so GitLab's resend is not taken for a duplicate. */
export async function releaseDelivery(redis: Redis, key: string, buildId: string): Promise<void> {
  await scripts(redis).hoistReleaseDelivery(key, buildId);
}
