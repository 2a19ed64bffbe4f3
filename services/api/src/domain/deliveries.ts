import { createHash } from "node:crypto";
import { type Build, ORPHAN_AFTER_MS, recordKeys } from "@hoist/shared";
import { type BuildDeps, buildFields, buildLifecycle, type NewBuild } from "./builds.js";

/** GitLab can resend a delivery (with the same Idempotency-Key) much later; remember keys 48 h. */
export const DELIVERY_TTL_MS = 48 * 3600 * 1000;

/** The dedupe key of a delivery: GitLab's Idempotency-Key, or a hash of the body when absent. */
export function deliveryKey(idempotencyKey: string | undefined, body: Buffer): string {
  const basis = idempotencyKey?.trim() ? `key:${idempotencyKey.trim()}` : `body:${createHash("sha256").update(body).digest("hex")}`;
  return createHash("sha256").update(basis).digest("hex");
}

export function deliveryRedisKey(prefix: string, hookId: string, key: string): string {
  return recordKeys(prefix).delivery(hookId, key);
}

type Accepted = { kind: "created"; build: Build; open: string[] } | { kind: "duplicate"; buildId: string };

/** How long a second delivery waits for the first one (same key, still storing its job). */
const WAIT_FOR_FIRST_MS = 3_000;
const POLL_MS = 10;

/**
 * Stores a delivery's queued build and its build job, once per dedupe key `key`.
 *
 * Two round trips on the common path: one script writes the key, the record and its indexes
 * (so of simultaneous deliveries exactly one creates a build), then the job is added. Should the
 * job fail to store, the script's writes are taken back and the error propagates (503, GitLab
 * resends). A delivery whose key already names a build is a duplicate once that build's job
 * exists (or it has left "queued"); while the first is still storing, this one waits for it.
 * The dedupe window (DELIVERY_TTL_MS) and the orphan age are measured on `deps.now`.
 */
export async function acceptDelivery(deps: BuildDeps, key: string, input: NewBuild): Promise<Accepted> {
  const now = deps.now ?? Date.now;
  const once = { key, ttlMs: DELIVERY_TTL_MS, openIndex: deps.records.keys.openBuilds(input.app, input.ref) };
  const deadline = Date.now() + WAIT_FOR_FIRST_MS;
  for (;;) {
    const out = await deps.records.builds.createOnce(buildFields(input), { ...once, now: now() });
    if (out.created) {
      try {
        await deps.queues.enqueue("build", { kind: "build", buildId: out.build.id });
      } catch (err) {
        await deps.records.builds.undoCreateOnce(out.build, once, out.outbox).catch(() => {});
        throw err;
      }
      // Its build.pending events, written with the record, go out once the job is stored.
      await buildLifecycle(deps).outbox.send(out.outbox);
      return { kind: "created", build: out.build, open: out.open };
    }
    const first = await deps.records.builds.get(out.id);
    // Its storing failed and was taken back (all but the key): this delivery stores the build.
    if (!first) {
      await deps.records.builds.releaseOnce(key, out.id);
      continue;
    }
    if (first.status !== "queued" || (await deps.queues.hasJob("build", { kind: "build", buildId: first.id }))) {
      return { kind: "duplicate", buildId: first.id };
    }
    if (now() - Date.parse(first.createdAt) > ORPHAN_AFTER_MS) {
      // The build would stay "queued" forever: its job is stored now (the id makes this idempotent).
      await deps.queues.enqueue("build", { kind: "build", buildId: first.id });
      return { kind: "duplicate", buildId: first.id };
    }
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
