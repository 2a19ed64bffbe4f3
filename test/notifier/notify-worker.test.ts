import { destinationsFor, secretContexts } from "@hoist/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { slackMessage } from "../../services/notifier/src/domain/slack-message.js";
import { statusHistory } from "../support/gitlab/statuses.js";
import { NotifierWorld, PUBLIC_URL, SHA } from "./setup.js";

let w: NotifierWorld;
beforeEach(async () => {
  w = await new NotifierWorld().start();
});
afterEach(async () => {
  await w.close();
});

const fast = { backoff: { type: "exponential", delay: 200, jitter: 0.5 } };

describe("GitLab commit statuses through the real worker and @gitbeaker/rest", () => {
  it("sets the full build-and-deploy sequence in order, and never moves a status backwards", async () => {
    const app = await w.app({ slack: false });
    const build = await w.build(app.name);
    const step = async (event: Parameters<typeof w.run>[0]["event"], releaseId?: string) => {
      const { result, error } = await w.run({ kind: "gitlab-status", event, buildId: build.id, ...(releaseId ? { releaseId } : {}) });
      expect(error).toBeUndefined();
      return result;
    };
    expect(await step("build.pending")).toBe("hoist/build=pending");
    await w.records.builds.patch(build.id, { status: "running", startedAt: new Date().toISOString() });
    // `pending` again first (for a build.pending job that comes late or never): GitLab refuses the repeat.
    expect(await step("build.running")).toBe("hoist/build=pending already, hoist/build=running");
    await w.records.builds.patch(build.id, { status: "succeeded", finishedAt: new Date().toISOString() });
    expect(await step("build.succeeded")).toBe("hoist/build=success");
    const release = await w.records.releases.create({ app: app.name, buildId: build.id, images: [{ service: "web", tag: "t" }] });
    await w.records.builds.patch(build.id, { releaseId: release.id });
    await w.records.releases.patch(release.id, { status: "deploying", deployingAt: new Date().toISOString() });
    expect(await step("release.deploying", release.id)).toBe("hoist/deploy:production=running, deployment production=running");
    await w.records.releases.patch(release.id, { status: "live", liveAt: new Date().toISOString() });
    expect(await step("release.live", release.id)).toBe("hoist/deploy:production=success, deployment production=success");
    // GitLab's Environments page: one deployment of the commit to production, running then success.
    expect(w.gitlab.state.deployments.map((d) => [d.sha, d.ref, d.tag, d.status])).toEqual([[SHA, "main", false, "success"]]);
    expect(w.gitlab.state.environments.map((e) => [e.name, e.external_url])).toEqual([["production", `${PUBLIC_URL}/apps/${app.name}`]]);

    expect(statusHistory(w.gitlab.state).map((s) => `${s.name}=${s.status}`)).toEqual([
      "hoist/build=pending",
      "hoist/build=running",
      "hoist/build=success",
      "hoist/deploy:production=running",
      "hoist/deploy:production=success",
    ]);
    // What GitLab stored, through its own GET endpoint's shape.
    const res = await fetch(`${w.gitlab.url}/api/v4/projects/${w.projectId}/repository/commits/${SHA}/statuses`, {
      headers: { "private-token": w.gitlab.state.users[0]!.token },
    });
    const stored = (await res.json()) as { name: string; status: string; target_url: string; ref: string; description: string }[];
    expect(stored).toEqual([
      expect.objectContaining({
        name: "hoist/build",
        status: "success",
        ref: "main",
        target_url: `${PUBLIC_URL}/builds/${build.id}`,
        description: `Build #${build.number} succeeded`,
      }),
      expect.objectContaining({
        name: "hoist/deploy:production",
        status: "success",
        ref: "main",
        target_url: `${PUBLIC_URL}/builds/${build.id}`,
        description: `Release #${release.number} is live`,
      }),
    ]);

    // A late "running" (a retry that lost the race) is older news than the records: not sent.
    const before = w.gitlab.state.requests.length;
    const late = await w.run({ kind: "gitlab-status", event: "build.running", buildId: build.id }, { jobId: "late-running" });
    expect(late.result).toBe("hoist/build=pending stale, hoist/build=running stale");
    expect(w.gitlab.state.requests.length).toBe(before);
  });

  it("treats GitLab's refusal of a repeated transition (400) as done, not as a failure", async () => {
    const app = await w.app({ slack: false });
    const build = await w.build(app.name, { status: "running" });
    expect((await w.run({ kind: "gitlab-status", event: "build.running", buildId: build.id })).result).toBe(
      "hoist/build=pending, hoist/build=running",
    );
    // The same event again, as after a crash between GitLab's answer and the job's completion.
    const again = await w.run({ kind: "gitlab-status", event: "build.running", buildId: build.id }, { jobId: "redelivered" });
    expect(again.error).toBeUndefined();
    expect(again.result).toBe("hoist/build=pending already, hoist/build=running already");
    // The build.pending job handled last (a busy notifier): refused too, the commit never goes back.
    const late = await w.run({ kind: "gitlab-status", event: "build.pending", buildId: build.id }, { jobId: "late-pending" });
    expect(late.result).toBe("hoist/build=pending already");
    expect(statusHistory(w.gitlab.state).map((s) => s.status)).toEqual(["pending", "running"]);
  });

  it("retries GitLab 500s, and fails permanently on 404 with GitLab's answer in the reason", async () => {
    const app = await w.app({ slack: false });
    const build = await w.build(app.name);
    w.gitlab.state.failNext(/^POST \/projects\/\d+\/statuses\//, 500, { message: "500 Internal Server Error" }, 2);
    const ok = await w.run({ kind: "gitlab-status", event: "build.pending", buildId: build.id }, fast);
    expect(ok.result).toBe("hoist/build=pending");
    expect(w.gitlab.state.requests.filter((r) => r.method === "POST")).toHaveLength(3);

    await w.records.apps.update(app.name, { gitlab: { ...app.gitlab!, projectId: 999_999 } });
    const gone = await w.run({ kind: "gitlab-status", event: "build.running", buildId: build.id }, fast);
    expect(gone.error?.name).toBe("UnrecoverableError");
    // GitLab's own words ("404 Project Not Found") stay out of the failure: the status says it.
    expect(gone.error?.message).toBe("GitLab (hoist/build pending) answered 404");
    expect(await gone.job.getState()).toBe("failed");
    expect(gone.job.attemptsMade).toBe(1);

    const conn = app.gitlab!.connectionId;
    await w.records.gitlabConnections.patch(conn, { token: await w.secrets.seal("revoked-token", secretContexts.gitlabToken(conn)) });
    const denied = await w.run({ kind: "gitlab-status", event: "build.failed", buildId: build.id }, fast);
    expect(denied.error?.message).toBe(
      "GitLab (hoist/build failed) answered 401: check the GitLab connection's token (it needs the api scope)",
    );
    expect(denied.error?.message).not.toContain("revoked-token");
  });

  it("honours GitLab's Retry-After on 429, one request per attempt", async () => {
    const app = await w.app({ slack: false });
    const build = await w.build(app.name);
    w.gitlab.state.failNext(/^POST \/projects\/\d+\/statuses\//, 429, { message: "429 Too Many Requests" }, 1, { "retry-after": "1" });
    const t0 = Date.now();
    const { result } = await w.run({ kind: "gitlab-status", event: "build.pending", buildId: build.id }, fast);
    const ms = Date.now() - t0;
    console.log(`notifier: GitLab 429 Retry-After 1 s honoured: status set after ${ms} ms`);
    expect(result).toBe("hoist/build=pending");
    expect(w.gitlab.state.requests.filter((r) => r.method === "POST")).toHaveLength(2);
    expect(ms).toBeGreaterThanOrEqual(1_000);
    expect(ms).toBeLessThan(2_500);
  });

  it("skips apps without a GitLab connection", async () => {
    const app = await w.app({ slack: false, gitlab: false });
    const build = await w.build(app.name);
    expect((await w.run({ kind: "gitlab-status", event: "build.pending", buildId: build.id })).result).toBe(
      "skipped: app has no GitLab connection",
    );
    expect(w.gitlab.state.requests).toHaveLength(0);
  });
});

describe("Slack through the real worker and @slack/webhook", () => {
  async function liveRelease() {
    const app = await w.app();
    const build = await w.build(app.name, { status: "succeeded" });
    const release = await w.records.releases.create({ app: app.name, buildId: build.id, images: [{ service: "web", tag: "t" }] });
    const liveAt = new Date(Date.parse(build.createdAt) + 95_000).toISOString();
    await w.records.releases.patch(release.id, { status: "live", liveAt });
    return { app, build, release: await w.records.releases.require(release.id) };
  }

  it("posts the release-live message once, and a repeat of the event is not posted again", async () => {
    const { app, build, release } = await liveRelease();
    const { result } = await w.run({ kind: "slack", event: "release.live", buildId: build.id, releaseId: release.id });
    expect(result).toBe("sent");
    expect(w.slack.posted).toHaveLength(1);
    const expected = slackMessage({ event: "release.live", app, build, release, publicUrl: PUBLIC_URL });
    if (!("send" in expected)) throw new Error("release.live must be sent");
    expect(w.slack.posted[0]).toEqual({
      text: `shop ${SHA.slice(0, 8)} is live (release #1)`,
      blocks: expected.send.blocks,
      at: expect.any(Number),
    });
    expect(JSON.stringify(w.slack.posted[0]?.blocks)).toContain("*Push to live*\\n1m 35s");
    expect(JSON.stringify(w.slack.posted[0]?.blocks)).toContain(`<${PUBLIC_URL}/builds/${build.id}|Build #1>`);
    expect(JSON.stringify(w.slack.posted[0]?.blocks)).toContain(
      `<${w.gitlab.url}/acme/shop/-/commit/${SHA}|${SHA.slice(0, 8)}> Add gift cards`,
    );

    const again = await w.run({ kind: "slack", event: "release.live", buildId: build.id, releaseId: release.id }, { jobId: "again" });
    expect(again.result).toBe("skipped: already sent");
    expect(w.slack.posted).toHaveLength(1);
  });

  it("retries 500s with backoff and posts once", async () => {
    const { build, release } = await liveRelease();
    w.slack.plan({ status: 500, body: "internal_error" }, 2);
    const { result } = await w.run({ kind: "slack", event: "release.live", buildId: build.id, releaseId: release.id }, fast);
    expect(result).toBe("sent");
    expect(w.slack.requests.map((r) => r.answered)).toEqual([500, 500, 200]);
    expect(w.slack.posted).toHaveLength(1);
    const [a, b, c] = w.slack.requests.map((r) => r.at) as [number, number, number];
    // exponential 200 ms with 50% jitter: 100-200 ms, then 200-400 ms
    expect(b - a).toBeGreaterThanOrEqual(95);
    expect(c - b).toBeGreaterThanOrEqual(195);
  });

  it("honours a 429's Retry-After", async () => {
    const { build, release } = await liveRelease();
    w.slack.plan({ status: 429, body: "rate_limited", headers: { "retry-after": "2" } });
    const { result, job } = await w.run({ kind: "slack", event: "release.live", buildId: build.id, releaseId: release.id }, fast);
    expect(result).toBe("sent");
    const [first, second] = w.slack.requests as unknown as [{ at: number; answered: number }, { at: number; answered: number }];
    expect([first.answered, second.answered]).toEqual([429, 200]);
    const waited = second.at - first.at;
    console.log(`notifier: Slack 429 Retry-After 2 s honoured: retried after ${waited} ms`);
    expect(waited).toBeGreaterThanOrEqual(2_000);
    expect(waited).toBeLessThan(3_500);
    // The pause did not use up an attempt.
    expect(job.attemptsStarted).toBe(2);
    expect(w.slack.posted).toHaveLength(1);
  });

  it("a destination answering 429 forever still ends on the failed list", async () => {
    const { build, release } = await liveRelease();
    w.slack.plan({ status: 429, body: "rate_limited", headers: { "retry-after": "0" } }, 100);
    const { error, job } = await w.run(
      { kind: "slack", event: "release.live", buildId: build.id, releaseId: release.id },
      { ...fast, attempts: 2 },
    );
    expect(error?.message).toBe("Slack answered 429: rate_limited");
    expect(await job.getState()).toBe("failed");
    // 3 pauses without using an attempt (up to 2 starts per attempt), then the 2 attempts.
    expect(w.slack.requests).toHaveLength(5);
    expect(w.slack.posted).toHaveLength(0);
  });

  it("fails permanently on 404 no_service, with Slack's answer and no retries", async () => {
    const app = await w.app({ slack: `${w.slack.baseUrl}/services/TNOPE/BNOPE/unknown` });
    const build = await w.build(app.name, { status: "failed", reason: "docker build exited 1" });
    const { error, job } = await w.run({ kind: "slack", event: "build.failed", buildId: build.id }, fast);
    expect(error?.name).toBe("UnrecoverableError");
    expect(error?.message).toBe("Slack answered 404: no_service");
    expect(await job.getState()).toBe("failed");
    expect(w.slack.requests).toHaveLength(1);
    expect(error?.message).not.toContain("/services/");
  });

  it("fails permanently on 400 invalid_payload, and a retry of that job may send (the claim was released)", async () => {
    const { build, release } = await liveRelease();
    w.slack.plan({ status: 400, body: "invalid_payload" });
    const first = await w.run({ kind: "slack", event: "release.live", buildId: build.id, releaseId: release.id }, fast);
    expect(first.error?.message).toBe("Slack answered 400: invalid_payload");
    await first.job.retry("failed");
    const [, result] = await new Promise<[unknown, unknown]>((resolve) =>
      w.worker?.on("completed", (j, r) => j.id === first.job.id && resolve([j, r])),
    );
    expect(result).toBe("sent");
    expect(w.slack.posted).toHaveLength(1);
  });

  it("uses HOIST_SLACK_WEBHOOK_URL for apps without their own, and skips when there is neither", async () => {
    const app = await w.app({ slack: false });
    const build = await w.build(app.name, { status: "canceled", canceledBy: "user" });
    const none = await w.run({ kind: "slack", event: "build.canceled", buildId: build.id });
    expect(none.result).toBe("skipped: no Slack webhook configured");
    await w.worker?.close();
    w.startWorker(w.slack.webhookUrl());
    const viaDefault = await w.run({ kind: "slack", event: "build.canceled", buildId: build.id }, { jobId: "with-default" });
    expect(viaDefault.result).toBe("sent");
    expect(w.slack.posted.map((m) => m.text)).toEqual([`shop ${SHA.slice(0, 8)}: build canceled (build #1)`]);
  });

  it("fails permanently, without the secret, when the app's Slack URL cannot be opened or is not a URL", async () => {
    const app = await w.app({ slack: false });
    const build = await w.build(app.name, { status: "failed" });
    // Sealed for another app: the authenticated context does not match.
    await w.records.apps.update(app.name, {
      slackWebhookUrl: await w.secrets.seal(w.slack.webhookUrl(), secretContexts.slackWebhookUrl("other")),
    });
    const sealedWrong = await w.run({ kind: "slack", event: "build.failed", buildId: build.id });
    expect(sealedWrong.error?.name).toBe("UnrecoverableError");
    expect(sealedWrong.error?.message).toMatch(/^cannot open a sealed secret/);
    await w.records.apps.update(app.name, {
      slackWebhookUrl: await w.secrets.seal("hooks.slack.com/services/T/B/SECRETPART", secretContexts.slackWebhookUrl(app.name)),
    });
    const notUrl = await w.run({ kind: "slack", event: "build.failed", buildId: build.id }, { jobId: "not-url" });
    expect(notUrl.error?.message).toBe("the Slack webhook URL (the app's) is not an http(s) URL: set it again");
    expect(w.slack.requests).toHaveLength(0);
  });

  it("does not announce other events", async () => {
    const app = await w.app();
    const build = await w.build(app.name, { status: "running" });
    expect((await w.run({ kind: "slack", event: "build.running", buildId: build.id })).result).toBe(
      "skipped: build.running is not a Slack event",
    );
    expect(w.slack.requests).toHaveLength(0);
  });
});

describe("signed outgoing webhooks", () => {
  it("delivers a body the consumer verifies, with the same webhook-id on a retry", async () => {
    const app = await w.app({ slack: false, webhook: true });
    const build = await w.build(app.name, {
      status: "failed",
      reason: "tests failed",
      finishedAt: "2026-01-01T10:00:00.000Z",
      logTail: ["SECRET=1"],
    });
    w.consumer.plan({ status: 503, body: "busy" });
    const { result } = await w.run({ kind: "webhook", event: "build.failed", buildId: build.id }, fast);
    expect(result).toBe("sent");
    expect(w.consumer.rejected).toEqual([]);
    const [r1, r2] = w.consumer.requests;
    expect(r1?.headers["webhook-id"]).toBe(r2?.headers["webhook-id"]);
    expect(w.consumer.events).toHaveLength(1);
    expect(w.consumer.events[0]?.body).toEqual({
      type: "build.failed",
      timestamp: "2026-01-01T10:00:00.000Z",
      data: {
        app: { name: "shop", branch: "main", target: "local", gitlab: { projectId: w.projectId, webUrl: `${w.gitlab.url}/acme/shop` } },
        build: expect.objectContaining({
          id: build.id,
          status: "failed",
          reason: "tests failed",
          sha: SHA,
          url: `${PUBLIC_URL}/builds/${build.id}`,
        }),
        release: null,
      },
    });
    expect(w.consumer.requests[1]?.rawBody).not.toContain("SECRET=1");
    expect(w.consumer.requests[1]?.rawBody).not.toContain(w.consumer.secret.slice(6));

    // The same event delivered again (a redelivery after a crash) carries the same id: the consumer dedupes it.
    await w.run({ kind: "webhook", event: "build.failed", buildId: build.id }, { jobId: "redelivery" });
    expect(w.consumer.duplicates).toEqual([r1?.headers["webhook-id"]]);
    expect(w.consumer.events).toHaveLength(1);
  });

  it("fails permanently when the consumer refuses (401), with its answer", async () => {
    const app = await w.app({ slack: false, webhook: true });
    const build = await w.build(app.name);
    w.consumer.plan({ status: 401, body: "no matching signature" });
    const { error } = await w.run({ kind: "webhook", event: "build.pending", buildId: build.id }, fast);
    expect(error?.name).toBe("UnrecoverableError");
    expect(error?.message).toBe(`webhook ${new URL(w.consumer.url).host} answered 401: no matching signature`);
  });

  it("skips apps without an outgoing webhook", async () => {
    const app = await w.app({ slack: false });
    const build = await w.build(app.name);
    expect((await w.run({ kind: "webhook", event: "build.pending", buildId: build.id })).result).toBe(
      "skipped: no outgoing webhook configured",
    );
  });
});

describe("one job per destination", () => {
  it("a Slack outage holds back neither the GitLab status nor the webhook", async () => {
    const app = await w.app({ webhook: true });
    const build = await w.build(app.name, { status: "succeeded" });
    const rel = await w.records.releases.create({ app: app.name, buildId: build.id, images: [{ service: "web", tag: "t" }] });
    await w.records.releases.patch(rel.id, { status: "live", liveAt: new Date().toISOString() });
    w.slack.plan({ status: 500, body: "internal_error" }, 1_000);
    const worker = w.startWorker();
    const done = new Map<string, unknown>();
    const bothDone = new Promise<void>((resolve) =>
      worker.on("completed", (job, result) => {
        done.set(job.data.kind as string, result);
        if (done.has("gitlab-status") && done.has("webhook")) resolve();
      }),
    );
    await w.queues.enqueueMany(
      "notify",
      destinationsFor("release.live").map((kind) => ({ kind, event: "release.live" as const, buildId: build.id, releaseId: rel.id })),
    );
    await bothDone;
    expect(Object.fromEntries(done)).toEqual({
      "gitlab-status": "hoist/deploy:production=success, deployment production=success",
      webhook: "sent",
    });
    const slackJob = await w.queues.queue("notify").getJob(`slack.release.live.${rel.id}`);
    expect(["delayed", "active", "waiting"]).toContain(await slackJob?.getState());
    expect(w.slack.requests.length).toBeGreaterThanOrEqual(1);
    expect(w.slack.posted).toHaveLength(0);
  });
});

describe("GitLab deployments: what is live where, on GitLab's Environments page", () => {
  it("one deployment per rollout: created running, then success; a job that lost its id finds the running one", async () => {
    const app = await w.app({ slack: false });
    const build = await w.build(app.name, { status: "succeeded" });
    const release = await w.records.releases.create({ app: app.name, buildId: build.id, images: [{ service: "web", tag: "t" }] });
    await w.records.releases.patch(release.id, { status: "deploying", deployingAt: new Date().toISOString() });
    const run = async (event: "release.deploying" | "release.live" | "release.failed", releaseId = release.id) => {
      const { result, error } = await w.run(
        { kind: "gitlab-status", event, buildId: build.id, releaseId },
        { jobId: `${event}.${releaseId}.${Math.random()}` },
      );
      expect(error).toBeUndefined();
      return result as string;
    };
    expect(await run("release.deploying")).toBe("hoist/deploy:production=running, deployment production=running");
    // The id the notifier kept is lost (say, Redis restored from an older backup): the live job finds the running deployment.
    await w.records.redis.del(w.records.keys.gitlabDeployment(release.id));
    await w.records.releases.patch(release.id, { status: "live", liveAt: new Date().toISOString() });
    expect(await run("release.live")).toBe("hoist/deploy:production=success, deployment production=success");
    expect(w.gitlab.state.deployments.map((d) => [d.status, d.sha])).toEqual([["success", SHA]]);
    // The same event once more: GitLab refuses the repeated status, which counts as done.
    expect(await run("release.live")).toContain("deployment production=success already");
    expect(w.gitlab.state.deployments).toHaveLength(1);
    const posts = w.gitlab.state.requests.filter((r) => r.method === "POST" && r.path.endsWith("/deployments"));
    expect(posts.map((p) => p.body)).toEqual([
      expect.objectContaining({ environment: "production", sha: SHA, ref: "main", tag: false, status: "running" }),
    ]);

    // A release that failed before it ever deployed gets no deployment.
    const never = await w.records.releases.create({ app: app.name, buildId: build.id, images: [{ service: "web", tag: "t" }] });
    await w.records.releases.patch(never.id, { status: "failed", reason: "superseded" });
    expect(await run("release.failed", never.id)).toBe("hoist/deploy:production=failed");
    expect(w.gitlab.state.deployments).toHaveLength(1);
  });
});
