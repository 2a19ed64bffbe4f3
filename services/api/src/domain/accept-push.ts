import { type App, recordKeys } from "@hoist/shared";
import { acceptMergeRequest, type MergeRequestOutcome } from "./accept-merge-request.js";
import { type BuildDeps, finishBuild } from "./builds.js";
import { acceptDelivery, DeliveryBusyError, deliveryKey, deliveryRedisKey } from "./deliveries.js";
import { InvalidInputError, isRedisUnavailable, UnavailableError } from "./errors.js";
import { MERGE_REQUEST_EVENT } from "./merge-request-event.js";
import { decidePush } from "./push-event.js";
import { SIGNATURE_TOLERANCE_S } from "./signature.js";

/** Storing a push never waits longer than this on Redis: GitLab gives up after 10 s. */
const STORE_DEADLINE_MS = 5_000;

export const storeUnavailable = () => new UnavailableError("Redis is unreachable; nothing was stored, resend the delivery shortly");

/** `p`, or UnavailableError once STORE_DEADLINE_MS has passed. */
export async function withStoreDeadline<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(storeUnavailable()), STORE_DEADLINE_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** An authenticated webhook delivery, as the route read it. */
export interface PushDelivery {
  hookId: string;
  app: App;
  /** X-Gitlab-Event. */
  event: string | undefined;
  /** GitLab's Idempotency-Key header: the dedupe key (a hash of the body when absent). */
  idempotencyKey: string | undefined;
  /** The webhook-id of a delivery whose Standard Webhooks signature was verified. */
  signedId?: string;
  body: Buffer;
}

export type PushOutcome =
  /** `pusher`: the pushing user's GitLab username, when the payload names one (for the audit log). */
  | { kind: "queued"; buildId: string; pusher?: string }
  | { kind: "duplicate"; buildId: string }
  /** A signed delivery seen again within the signature's tolerance window. */
  | { kind: "duplicate"; replay: true; reason: string }
  | { kind: "ignored"; reason: string }
  /** An earlier delivery with the same key is still being stored. */
  | { kind: "busy"; message: string }
  /** A Merge Request Hook's (accept-merge-request.ts). */
  | MergeRequestOutcome;

/**
 * The webhook use case: decides what a push means for the app and, when it builds, stores the
 * build (once per delivery key) and its job before it answers. A malformed body throws
 * InvalidInputError; Redis away (or slower than the deadline) throws UnavailableError, and
 * nothing usable is left behind, so GitLab's resend builds.
 */
export async function acceptPush(deps: BuildDeps, delivery: PushDelivery): Promise<PushOutcome> {
  if (delivery.signedId === undefined) return decideAndStore(deps, delivery);
  // A captured signed delivery stays valid for the whole tolerance window: its webhook-id is
  // remembered that long (either side of now), and a second sight of it is a duplicate. The
  // mark is taken back when the delivery fails, so GitLab's resend of a failed one still builds.
  const seen = recordKeys(deps.prefix).webhookSeen(delivery.hookId, delivery.signedId);
  const fresh = await withStoreDeadline(deps.redis.set(seen, "1", "PX", 2 * SIGNATURE_TOLERANCE_S * 1000, "NX"));
  if (fresh !== "OK") return { kind: "duplicate", replay: true, reason: "this webhook-id was already delivered" };
  const forget = () => deps.redis.del(seen).catch(() => undefined);
  try {
    const outcome = await decideAndStore(deps, delivery);
    if (outcome.kind === "busy") await forget();
    return outcome;
  } catch (err) {
    await forget();
    throw err;
  }
}

async function decideAndStore(deps: BuildDeps, delivery: PushDelivery): Promise<PushOutcome> {
  const { app, body } = delivery;
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString("utf8"));
  } catch {
    throw new InvalidInputError("invalid_json", "request body is not valid JSON");
  }
  const key = deliveryRedisKey(deps.prefix, delivery.hookId, deliveryKey(delivery.idempotencyKey, body));
  if (delivery.event === MERGE_REQUEST_EVENT) {
    return storing(acceptMergeRequest(deps, app, payload, deliveryKey(delivery.idempotencyKey, body), key));
  }
  const decision = decidePush(delivery.event, payload, app);
  if (decision.action === "reject") throw new InvalidInputError("invalid_payload", decision.message);
  if (decision.action === "ignore") return { kind: "ignored", reason: decision.reason };

  const { ref, sha, before, trigger, commit, pusher } = decision;
  const accepted = await storing(
    acceptDelivery(deps, key, { app: app.name, ref, sha, ...(before ? { before } : {}), trigger, commit }),
  ).catch((err: unknown) => {
    if (err instanceof DeliveryBusyError) return { kind: "busy" as const, message: err.message };
    throw err;
  });
  if (accepted.kind !== "created") return accepted;
  // The build and its job are stored and will run; a resend of this delivery is a duplicate now.
  await storing(finishBuild(deps, accepted.build, app, accepted.open));
  return { kind: "queued", buildId: accepted.build.id, ...(pusher ? { pusher } : {}) };
}

/** A store step under the deadline; Redis away becomes UnavailableError, anything else propagates. */
async function storing<T>(p: Promise<T>): Promise<T> {
  try {
    return await withStoreDeadline(p);
  } catch (err) {
    if (err instanceof UnavailableError || isRedisUnavailable(err)) throw storeUnavailable();
    throw err;
  }
}
