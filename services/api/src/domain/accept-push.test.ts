import { once } from "node:events";
import { type App, JobQueues, Records, type Redis } from "@hoist/shared";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acceptPush, type PushDelivery } from "./accept-push.js";
import { type BuildDeps, buildFields } from "./builds.js";
import { DELIVERY_TTL_MS, deliveryKey, deliveryRedisKey } from "./deliveries.js";
import { InvalidInputError, UnavailableError } from "./errors.js";

const A = "a".repeat(40);
const B = "b".repeat(40);
const HOOK = "hook-accept-push";

let redis: Redis;
let deps: BuildDeps;
let app: App;

const pushBody = (over: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ object_kind: "push", before: B, after: A, ref: "refs/heads/main", checkout_sha: A, ...over }));

function delivery(over: Partial<PushDelivery> = {}): PushDelivery {
  return { hookId: HOOK, app, event: "Push Hook", idempotencyKey: "delivery-1", body: pushBody(), ...over };
}

beforeEach(async () => {
  redis = testRedis("producer");
  if (redis.status !== "ready") await once(redis, "ready");
  const prefix = uniquePrefix("accept-push");
  const records = new Records(redis, prefix);
  deps = { redis, records, queues: new JobQueues(redis, prefix), prefix };
  app = await records.apps.create({
    name: "shop",
    branch: "main",
    repo: { sshUrl: "ssh://git@127.0.0.1/shop.git" },
    target: { kind: "local", services: { web: { port: 18080 } } },
    supersede: "running",
    tagBuilds: false,
    buildTimeoutSec: 1800,
    hookId: HOOK,
  });
});

afterEach(async () => {
  await deps.queues.close();
  await deletePrefix(redis, deps.prefix);
  await redis.quit();
});

describe("acceptPush", () => {
  it("queues a build of checkout_sha with its job, once per delivery key", async () => {
    const first = await acceptPush(deps, delivery());
    expect(first.kind).toBe("queued");
    const buildId = (first as { buildId: string }).buildId;
    const build = await deps.records.builds.require(buildId);
    expect(build).toMatchObject({ app: "shop", ref: "main", sha: A, before: B, trigger: "push", status: "queued" });
    expect(await deps.queues.hasJob("build", { kind: "build", buildId })).toBe(true);

    expect(await acceptPush(deps, delivery())).toEqual({ kind: "duplicate", buildId });
    // Another delivery of the same push (a new Idempotency-Key) is another build.
    const other = await acceptPush(deps, delivery({ idempotencyKey: "delivery-2" }));
    expect(other).toMatchObject({ kind: "queued" });
    expect((other as { buildId: string }).buildId).not.toBe(buildId);
  });

  it("ignores what does not build, and stores nothing for it", async () => {
    expect(await acceptPush(deps, delivery({ event: "Note Hook" }))).toEqual({
      kind: "ignored",
      reason: 'event "Note Hook" does not trigger builds',
    });
    expect(await acceptPush(deps, delivery({ body: pushBody({ ref: "refs/heads/feature" }) }))).toEqual({
      kind: "ignored",
      reason: "branch feature does not match the app's branch filter main",
    });
    const tag = pushBody({ object_kind: "tag_push", ref: "refs/tags/v1" });
    expect(await acceptPush(deps, delivery({ event: "Tag Push Hook", body: tag }))).toEqual({
      kind: "ignored",
      reason: "tag builds are off for this app (tag v1)",
    });
    expect(await deps.records.builds.listByApp("shop", 10)).toEqual([]);
  });

  it("refuses a body that is not JSON, or a push without what a build needs", async () => {
    const notJson = acceptPush(deps, delivery({ body: Buffer.from("{") }));
    await expect(notJson).rejects.toBeInstanceOf(InvalidInputError);
    await expect(notJson).rejects.toMatchObject({ code: "invalid_json", message: "request body is not valid JSON" });
    await expect(acceptPush(deps, delivery({ body: pushBody({ checkout_sha: null }) }))).rejects.toMatchObject({
      code: "invalid_payload",
      message: "Push Hook payload: checkout_sha: required unless the ref was deleted",
    });
    expect(await deps.records.builds.listByApp("shop", 10)).toEqual([]);
  });

  it("answers a signed delivery seen again as a replay, unless the first one failed", async () => {
    // The first sight failed (a malformed body): its mark is taken back, so a resend still builds.
    await expect(acceptPush(deps, delivery({ signedId: "msg_1", body: Buffer.from("{") }))).rejects.toBeInstanceOf(InvalidInputError);
    const queued = await acceptPush(deps, delivery({ signedId: "msg_1" }));
    expect(queued.kind).toBe("queued");
    // A replay is caught by its webhook-id before the delivery key is even looked at.
    expect(await acceptPush(deps, delivery({ signedId: "msg_1", idempotencyKey: "another" }))).toEqual({
      kind: "duplicate",
      replay: true,
      reason: "this webhook-id was already delivered",
    });
  });

  it("is busy while an earlier delivery with the same key is still storing, and forgets the signed mark", async () => {
    // The first delivery claimed the key and stored its record, but not yet its job.
    const body = pushBody();
    const key = deliveryRedisKey(deps.prefix, HOOK, deliveryKey("slow", body));
    const input = { app: "shop", ref: "main", sha: A, trigger: "push" as const };
    const claim = { key, ttlMs: DELIVERY_TTL_MS, openIndex: deps.records.keys.openBuilds("shop", "main"), now: Date.now() };
    const first = await deps.records.builds.createOnce(buildFields(input), claim);
    expect(first.created).toBe(true);

    const outcome = await acceptPush(deps, delivery({ idempotencyKey: "slow", body, signedId: "msg_busy" }));
    expect(outcome).toEqual({
      kind: "busy",
      message: "an earlier delivery with the same Idempotency-Key is still being stored; resend shortly",
    });
    expect(await redis.exists(`${deps.prefix}:webhook-seen:${HOOK}:msg_busy`)).toBe(0);
  });

  it("says Redis is unavailable when it cannot store, and leaves nothing behind", async () => {
    const dead = testRedis("producer");
    if (dead.status !== "ready") await once(dead, "ready");
    await dead.quit();
    const away = { ...deps, redis: dead, records: new Records(dead, deps.prefix), queues: new JobQueues(dead, deps.prefix) };
    const out = acceptPush(away, delivery());
    await expect(out).rejects.toBeInstanceOf(UnavailableError);
    await expect(out).rejects.toMatchObject({
      code: "unavailable",
      message: "Redis is unreachable; nothing was stored, resend the delivery shortly",
    });
    expect(await deps.records.builds.listByApp("shop", 10)).toEqual([]);
  });
});
