import { ORPHAN_AFTER_MS, onBuildCanceled, secretContexts } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DELIVERY_TTL_MS, deliveryKey, deliveryRedisKey } from "../../services/api/src/domain/deliveries.js";
import { branchCreatePayload, branchDeletePayload, mergeRequestPayload, pushPayload, tagPushPayload } from "../support/api/fixtures.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { deliver, signedHeaders } from "./webhook-helpers.js";

describe("POST /webhooks/gitlab/:hookId", () => {
  let h: ApiHarness;
  let hookUrl: string;
  let token: string;

  const localHook = (url: string) => `${h.url}${new URL(url).pathname}`;
  const buildJob = (id: string) => h.deps.queues.queue("build").getJob(id);
  const jobCounts = () => h.deps.queues.queue("build").getJobCounts("waiting", "delayed", "prioritized");

  beforeAll(async () => {
    h = await startApi();
    const res = await h.api("POST", "/apps", { name: "web", branch: "main", repo: { sshUrl: "git@gitlab.example.com:acme/web.git" } });
    expect(res.status).toBe(201);
    hookUrl = localHook(res.body.webhook.url);
    token = res.body.webhook.token;
    // As if linked to a GitLab project: accepted pushes then also queue GitLab's "pending" status.
    const linked = await h.deps.records.apps.update("web", { gitlab: { connectionId: "glc_test", projectId: 7 } });
    h.deps.apps.invalidate(linked);
  });
  afterAll(async () => {
    await h?.close();
  });

  it("builds checkout_sha of a push on the app's branch, answering 202 once record and job are in Redis", async () => {
    const payload = pushPayload({ branch: "main" });
    const res = await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: crypto.randomUUID(), body: payload });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: "queued", buildId: expect.stringMatching(/^bld_/) });
    const build = await h.deps.records.builds.require(res.body.buildId);
    expect(build).toMatchObject({
      app: "web",
      ref: "main",
      sha: payload.checkout_sha,
      status: "queued",
      trigger: "push",
      commit: {
        title: "Update Catalan translation to e38cb41.",
        author: "Jordi Mallach",
        timestamp: payload.commits[0]?.timestamp,
        url: payload.commits[0]?.url,
      },
    });
    const job = await buildJob(build.id);
    expect(job?.data).toEqual({ kind: "build", buildId: build.id });
    const pending = await h.deps.queues.queue("notify").getJob(`gitlab-status.build.pending.${build.id}`);
    expect(pending?.data).toMatchObject({ kind: "gitlab-status", event: "build.pending", buildId: build.id });
  });

  it("builds a tag's checkout_sha, not its tag object (after)", async () => {
    const payload = tagPushPayload("v1.2.0");
    const res = await deliver(hookUrl, { event: "Tag Push Hook", token, body: payload });
    expect(res.status).toBe(202);
    const build = await h.deps.records.builds.require(res.body.buildId);
    expect(build).toMatchObject({ ref: "v1.2.0", sha: payload.checkout_sha, trigger: "tag_push" });
    expect(build.sha).not.toBe(payload.after);
  });

  it("builds a new branch's head and the newest commit of a push of more than 20 commits", async () => {
    const created = branchCreatePayload("main");
    const a = await deliver(hookUrl, { event: "Push Hook", token, body: created });
    expect(a.status).toBe(202);
    expect((await h.deps.records.builds.require(a.body.buildId)).sha).toBe(created.checkout_sha);
    const big = pushPayload({ commitCount: 45 });
    expect(big.commits).toHaveLength(20);
    const b = await deliver(hookUrl, { event: "Push Hook", token, body: big });
    expect(b.status).toBe(202);
    const build = await h.deps.records.builds.require(b.body.buildId);
    expect(build.sha).toBe(big.after);
    expect(build.commit?.title).toBe("Update Catalan translation to e38cb41.");
  });

  it("ignores deletions, other branches, other events and (when off) tags with 200 and a reason", async () => {
    const before = await jobCounts();
    const cases = [
      { event: "Push Hook", body: branchDeletePayload("main"), reason: /branch main was deleted/ },
      { event: "Tag Push Hook", body: tagPushPayload("v9", { deleted: true }), reason: /tag v9 was deleted/ },
      { event: "Push Hook", body: pushPayload({ branch: "feature/x" }), reason: /feature\/x does not match .*main/ },
      // Merge requests make previews, which this app has not enabled (test/ingress/previews-webhook.test.ts).
      { event: "Merge Request Hook", body: mergeRequestPayload(), reason: /previews are not enabled for app web/ },
      { event: "Pipeline Hook", body: { object_kind: "pipeline", nonsense: true }, reason: /does not trigger/ },
      { event: undefined, body: {}, reason: /no X-Gitlab-Event/ },
    ];
    for (const c of cases) {
      const res = await deliver(hookUrl, { event: c.event, token, body: c.body });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.status).toBe("ignored");
      expect(res.body.reason).toMatch(c.reason);
    }
    expect(await h.api("PATCH", "/apps/web", { tagBuilds: false })).toMatchObject({ status: 200 });
    const tag = await deliver(hookUrl, { event: "Tag Push Hook", token, body: tagPushPayload("v2") });
    expect(tag.body).toEqual({ status: "ignored", reason: "tag builds are off for this app (tag v2)" });
    await h.api("PATCH", "/apps/web", { tagBuilds: true });
    expect(await jobCounts()).toEqual(before);
  });

  it("rejects with 404, 401, 413 or 400 and stores nothing", async () => {
    const before = await jobCounts();
    const body = pushPayload();
    expect((await deliver(`${h.url}/webhooks/gitlab/nope-not-a-hook`, { event: "Push Hook", token, body })).status).toBe(404);
    const wrong = await deliver(hookUrl, { event: "Push Hook", token: `${token}x`, body });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("unauthorized");
    expect((await deliver(hookUrl, { event: "Push Hook", body })).status).toBe(401);
    const huge = await deliver(hookUrl, { event: "Push Hook", token, body: null, raw: `{"pad":"${"x".repeat(1024 * 1024)}"}` });
    expect(huge.status).toBe(413);
    const notJson = await deliver(hookUrl, { event: "Push Hook", token, body: null, raw: "ref=refs/heads/main" });
    expect(notJson).toMatchObject({ status: 400, body: { error: { code: "invalid_json" } } });
    const noSha = await deliver(hookUrl, { event: "Push Hook", token, body: { ...body, checkout_sha: null } });
    expect(noSha.status).toBe(400);
    expect(noSha.body.error.message).toMatch(/checkout_sha/);
    const noRef = await deliver(hookUrl, { event: "Push Hook", token, body: { ...body, ref: undefined } });
    expect(noRef.body.error.message).toMatch(/ref/);
    expect(noRef.status).toBe(400);
    expect(await jobCounts()).toEqual(before);
  });

  it("answers a resend with the same Idempotency-Key as a duplicate of the first build", async () => {
    const key = crypto.randomUUID();
    const body = pushPayload();
    const first = await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    const again = await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    expect(first.status).toBe(202);
    expect(again).toMatchObject({ status: 200, body: { status: "duplicate", buildId: first.body.buildId } });
    // Remembered for GitLab's resend window (at least 24 h).
    const keys = await h.redis.keys(`${h.prefix}:rec:hook:*:delivery:*`);
    const ttls = await Promise.all(keys.map((k) => h.redis.pttl(k)));
    for (const t of ttls) expect(t).toBeGreaterThan(24 * 3600 * 1000);
    // Without Idempotency-Key, the same body is the same delivery.
    const noKey = pushPayload();
    const a = await deliver(hookUrl, { event: "Push Hook", token, body: noKey });
    const b = await deliver(hookUrl, { event: "Push Hook", token, body: noKey });
    expect(b.body).toEqual({ status: "duplicate", buildId: a.body.buildId });
  });

  it("answers 503 and leaves no trace when storing fails midway, so GitLab's resend is built", async () => {
    const key = crypto.randomUUID();
    const body = pushPayload();
    const before = await h.deps.records.builds.listByApp("web", 500);
    // Redis drops the connection just as the build job is added (fault injected in the producer).
    const spy = vi.spyOn(h.deps.queues, "enqueue").mockRejectedValueOnce(new Error("Connection is closed."));
    const failed = await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    spy.mockRestore();
    expect(failed).toMatchObject({ status: 503, body: { error: { code: "unavailable" } } });
    expect(await h.deps.records.builds.listByApp("web", 500)).toHaveLength(before.length);
    const hookId = new URL(hookUrl).pathname.split("/").pop() as string;
    expect(await h.redis.exists(deliveryRedisKey(h.prefix, hookId, deliveryKey(key, Buffer.from(JSON.stringify(body)))))).toBe(0);
    const resend = await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    expect(resend.status).toBe(202);
    expect((await h.deps.records.builds.require(resend.body.buildId)).sha).toBe(body.checkout_sha);
  });

  it("stores the job of a build whose first delivery died between its two writes, when GitLab resends", async () => {
    const key = crypto.randomUUID();
    const body = pushPayload();
    const hookId = new URL(hookUrl).pathname.split("/").pop() as string;
    const dedupe = deliveryRedisKey(h.prefix, hookId, deliveryKey(key, Buffer.from(JSON.stringify(body))));
    // What a process killed right after the first write leaves: the key and a queued record, no job.
    const out = await h.deps.records.builds.createOnce(
      { app: "web", ref: "main", sha: body.checkout_sha, trigger: "push" },
      { key: dedupe, ttlMs: DELIVERY_TTL_MS, openIndex: h.deps.records.keys.openBuilds("web", "main") },
    );
    if (!out.created) throw new Error("expected a fresh key");
    await h.deps.records.builds.patch(out.build.id, { createdAt: new Date(Date.now() - ORPHAN_AFTER_MS - 1000).toISOString() });
    expect(await buildJob(out.build.id)).toBeUndefined();
    const resend = await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    expect(resend.body).toEqual({ status: "duplicate", buildId: out.build.id });
    expect((await buildJob(out.build.id))?.data).toEqual({ kind: "build", buildId: out.build.id });
  });

  it("keeps a stored build when a later step fails: 503, and the resend is a duplicate of it", async () => {
    const key = crypto.randomUUID();
    const body = pushPayload();
    const queues = h.deps.queues;
    // The build job goes in; Redis fails on the notify jobs that follow.
    const spy = vi.spyOn(queues, "enqueueMany").mockRejectedValue(new Error("Connection is closed."));
    const failed = await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    spy.mockRestore();
    expect(failed.status).toBe(503);
    const resend = await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    expect(resend).toMatchObject({ status: 200, body: { status: "duplicate" } });
    const build = await h.deps.records.builds.require(resend.body.buildId);
    expect(build).toMatchObject({ status: "queued", sha: body.checkout_sha });
    expect((await h.deps.queues.queue("build").getJob(build.id))?.data).toEqual({ kind: "build", buildId: build.id });
  });

  it("never answers duplicate with a build that then fails to store: the waiting resend takes over", async () => {
    const key = crypto.randomUUID();
    const body = pushPayload();
    const queues = h.deps.queues;
    let releaseFirst: () => void = () => {};
    const enqueueSpy = vi.spyOn(queues, "enqueue");
    const firstReachedEnqueue = new Promise<void>((reached) => {
      enqueueSpy.mockImplementationOnce(
        () =>
          new Promise((_, reject) => {
            reached();
            releaseFirst = () => reject(new Error("Connection is closed."));
          }),
      );
    });
    const first = deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    await firstReachedEnqueue;
    enqueueSpy.mockRestore();
    // Let the first delivery fail only once the second has found its build stored but its job not yet.
    const hasJob = queues.hasJob.bind(queues);
    let sawPending: () => void = () => {};
    const pendingSeen = new Promise<void>((resolve) => {
      sawPending = resolve;
    });
    const claimSpy = vi.spyOn(queues, "hasJob").mockImplementation(async (...args: Parameters<typeof hasJob>) => {
      const exists = await hasJob(...args);
      if (!exists) sawPending();
      return exists;
    });
    const second = deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body });
    await pendingSeen;
    releaseFirst();
    const [a, b] = await Promise.all([first, second]);
    claimSpy.mockRestore();
    expect(a.status).toBe(503);
    expect(b.status).toBe(202);
    expect((await h.deps.records.builds.require(b.body.buildId)).sha).toBe(body.checkout_sha);
    expect((await deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body })).body).toEqual({
      status: "duplicate",
      buildId: b.body.buildId,
    });
  });

  it("makes exactly one build of simultaneous deliveries with the same key", async () => {
    const key = crypto.randomUUID();
    const body = pushPayload();
    const before = await h.deps.records.builds.listByApp("web", 200);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => deliver(hookUrl, { event: "Push Hook", token, idempotencyKey: key, body })),
    );
    const queued = results.filter((r) => r.status === 202);
    expect(queued).toHaveLength(1);
    const id = queued[0]?.body.buildId;
    for (const r of results.filter((r) => r.status !== 202))
      expect(r).toMatchObject({ status: 200, body: { status: "duplicate", buildId: id } });
    const after = await h.deps.records.builds.listByApp("web", 200);
    expect(after.length - before.length).toBe(1);
  });

  it("supersedes the ref's older queued builds, and its running one unless supersede is queued", async () => {
    const push = () => deliver(hookUrl, { event: "Push Hook", token, body: pushPayload({ branch: "main" }) });
    const sub = h.redis.duplicate({ enableOfflineQueue: true });
    const announced: string[] = [];
    let onAnnounce = () => {};
    await onBuildCanceled(sub, h.prefix, (id) => {
      announced.push(id);
      onAnnounce();
    });
    const a = (await push()).body.buildId as string;
    const b = (await push()).body.buildId as string;
    expect(await h.deps.records.builds.require(a)).toMatchObject({ status: "canceled", reason: "superseded", canceledBy: "superseded" });
    expect((await h.deps.records.builds.require(a)).finishedAt).toBeDefined();
    await h.deps.records.builds.transition(b, ["queued"], { status: "running", startedAt: new Date().toISOString() });
    const c = (await push()).body.buildId as string;
    expect((await h.deps.records.builds.require(b)).status).toBe("canceled");
    expect((await h.deps.records.builds.require(c)).status).toBe("queued");
    const canceledNote = await h.deps.queues.queue("notify").getJob(`slack.build.canceled.${b}`);
    expect(canceledNote?.data).toMatchObject({ event: "build.canceled", buildId: b });

    await h.api("PATCH", "/apps/web", { supersede: "queued" });
    await h.deps.records.builds.transition(c, ["queued"], { status: "running", startedAt: new Date().toISOString() });
    const d = (await push()).body.buildId as string;
    const e = (await push()).body.buildId as string;
    expect((await h.deps.records.builds.require(c)).status).toBe("running");
    expect((await h.deps.records.builds.require(d)).status).toBe("canceled");
    expect((await h.deps.records.builds.require(e)).status).toBe("queued");
    await h.api("PATCH", "/apps/web", { supersede: "running" });
    // A push to another branch of a wildcard filter leaves main's builds alone.
    await h.api("PATCH", "/apps/web", { branch: "*" });
    const other = await deliver(hookUrl, { event: "Push Hook", token, body: pushPayload({ branch: "release/2" }) });
    expect(other.status).toBe(202);
    expect((await h.deps.records.builds.require(e)).status).toBe("queued");
    await h.api("PATCH", "/apps/web", { branch: "main" });
    const all = [a, b, d];
    await new Promise<void>((resolve) => {
      onAnnounce = () => all.every((id) => announced.includes(id)) && resolve();
      onAnnounce();
    });
    expect(announced).toEqual(expect.arrayContaining(all));
    expect(announced).not.toContain(c);
    expect(announced).not.toContain(e);
    sub.disconnect();
  });

  it("cancels a push that arrived after its successor even when a builder started it at once", async () => {
    const older = pushPayload({ branch: "main" });
    const newer = pushPayload({ branch: "main", before: older.after });
    const n = (await deliver(hookUrl, { event: "Push Hook", token, body: newer })).body.buildId as string;
    // A builder takes the older push's job as soon as it is stored, before the webhook's supersede step.
    const enqueue = h.deps.queues.enqueue.bind(h.deps.queues);
    const spy = vi.spyOn(h.deps.queues, "enqueue").mockImplementation(async (...args: Parameters<typeof enqueue>) => {
      const out = await enqueue(...args);
      const [, job] = args;
      if (job.kind === "build") await h.deps.records.builds.transition(job.buildId, ["queued"], { status: "running" });
      return out;
    });
    const o = (await deliver(hookUrl, { event: "Push Hook", token, body: older })).body.buildId as string;
    spy.mockRestore();
    expect(await h.deps.records.builds.require(o)).toMatchObject({ status: "canceled", reason: "superseded" });
    expect((await h.deps.records.builds.require(n)).status).toBe("queued");
  });

  it("verifies Standard Webhooks signatures when the app has a signing secret", async () => {
    const res = await h.api("POST", "/apps", { name: "signed", repo: { sshUrl: "ssh://git@127.0.0.1:2222/acme/signed.git" } });
    const url = localHook(res.body.webhook.url);
    const secret = `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
    const patched = await h.api("PATCH", "/apps/signed", { signingSecret: secret });
    expect(patched.status).toBe(200);
    expect(JSON.stringify(patched.body)).not.toContain(secret.slice(6));
    const app = await h.deps.records.apps.require("signed");
    expect((await h.deps.secrets.open(app.signingSecret!, secretContexts.signingSecret("signed"))).toString()).toBe(secret);

    const raw = JSON.stringify(pushPayload());
    const ok = await deliver(url, { event: "Push Hook", body: null, raw, headers: signedHeaders(secret, raw) });
    expect(ok.status).toBe(202);
    const tampered = await deliver(url, {
      event: "Push Hook",
      body: null,
      raw: raw.replace("main", "mainx"),
      headers: signedHeaders(secret, raw),
    });
    expect(tampered.status).toBe(401);
    const stale = await deliver(url, {
      event: "Push Hook",
      body: null,
      raw,
      headers: signedHeaders(secret, raw, Math.floor(Date.now() / 1000) - 301),
    });
    expect(stale.status).toBe(401);
    expect(stale.body.error.message).toMatch(/5 minutes/);
    // A captured signed delivery replayed within the tolerance, even with another Idempotency-Key,
    // builds nothing: its webhook-id was seen.
    const headers = signedHeaders(secret, raw);
    const original = await deliver(url, { event: "Push Hook", body: null, raw, headers: { ...headers, "idempotency-key": "k-1" } });
    expect(original.status).toBe(202);
    const replay = await deliver(url, { event: "Push Hook", body: null, raw, headers: { ...headers, "idempotency-key": "k-2" } });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ status: "duplicate", reason: "this webhook-id was already delivered" });
    expect((await h.api("GET", "/apps/signed/builds")).body.builds).toHaveLength(2);
    // The plain token is not accepted in place of a signature once signing is on.
    const plain = await deliver(url, { event: "Push Hook", token: res.body.webhook.token, body: pushPayload() });
    expect(plain.status).toBe(401);
  });
});
