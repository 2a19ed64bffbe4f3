import { randomBytes, randomUUID } from "node:crypto";
import { Worker } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliveryKey } from "../../services/api/src/domain/deliveries.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { deliverHook, mergeRequestPayload } from "../support/gitlab/deliver.js";
import type { GitlabProject } from "../support/gitlab/state.js";

const project: GitlabProject = {
  id: 7,
  path_with_namespace: "acme/web",
  name: "web",
  default_branch: "main",
  ssh_url_to_repo: "git@gitlab.example.com:acme/web.git",
  http_url_to_repo: "https://gitlab.example.com/acme/web.git",
  web_url: "https://gitlab.example.com/acme/web",
};
const sha = () => randomBytes(20).toString("hex");
const ada = { id: 31, username: "ada", name: "Ada" };

describe("Merge Request Hook on POST /webhooks/gitlab/:hookId: previews jobs", () => {
  let h: ApiHarness;
  let hook: { url: string; token: string };

  const previews = () => h.deps.queues.queue("previews");
  const allJobs = async () => (await previews().getJobs(["waiting", "delayed", "prioritized", "active", "completed", "failed"])).length;
  const mr = (opts: Partial<Parameters<typeof mergeRequestPayload>[0]> & { iid: number; action: string; sha: string }) =>
    mergeRequestPayload({ project, sourceBranch: `feature-${opts.iid}`, author: ada, title: `Preview me ${opts.iid}`, ...opts });

  beforeAll(async () => {
    h = await startApi();
    const res = await h.api("POST", "/apps", { name: "web", branch: "main", repo: { sshUrl: "git@gitlab.example.com:acme/web.git" } });
    expect(res.status).toBe(201);
    hook = { url: `${h.url}${new URL(res.body.webhook.url).pathname}`, token: res.body.webhook.token };
  });
  afterAll(async () => {
    await h?.close();
  });

  it("ignores merge requests while the app's previews are off, saying so, and stores nothing", async () => {
    const open = await deliverHook(hook, "Merge Request Hook", mr({ iid: 1, action: "open", sha: sha() }));
    expect(open).toMatchObject({
      status: 200,
      body: { status: "ignored", reason: "previews are not enabled for app web (PATCH /v1/apps/web with previews.enabled: true)" },
    });
    const close = await deliverHook(hook, "Merge Request Hook", mr({ iid: 1, action: "close", sha: sha() }));
    expect(close).toMatchObject({
      status: 200,
      body: { status: "ignored", reason: expect.stringMatching(/not enabled .* has no preview/) },
    });
    expect(await allJobs()).toBe(0);
    expect((await h.api("PATCH", "/apps/web", { previews: { enabled: true } })).status).toBe(200);
  });

  it("opens: 202 once the open job of the MR's last commit is in Redis; a resend of the delivery is the same one job", async () => {
    const head = sha();
    const body = mr({ iid: 42, action: "open", sha: head });
    const key = randomUUID();
    const res = await deliverHook(hook, "Merge Request Hook", body, key);
    expect(res).toMatchObject({ status: 202, body: { status: "queued", preview: { iid: 42, job: "open" } } });
    const job = await previews().getJob(`open.web.42.${head}`);
    expect(job?.data).toEqual({
      kind: "open",
      app: "web",
      iid: 42,
      sha: head,
      sourceBranch: "feature-42",
      authorId: 31,
      fork: false,
      mrUrl: "https://gitlab.example.com/acme/web/-/merge_requests/42",
      title: "Preview me 42",
      deliveryId: deliveryKey(key, Buffer.from(JSON.stringify(body))),
    });
    const again = await deliverHook(hook, "Merge Request Hook", body, key);
    expect(again).toMatchObject({ status: 200, body: { status: "duplicate", preview: { iid: 42 } } });
    // GitLab resending it under another key names the same commit: still one job.
    expect((await deliverHook(hook, "Merge Request Hook", body)).status).toBe(202);
    expect(await allJobs()).toBe(1);
  });

  it("an update without new commits is ignored (200); one with new commits opens the new head; a fork's MR says so", async () => {
    const before = await allJobs();
    const retitled = await deliverHook(hook, "Merge Request Hook", mr({ iid: 43, action: "update", sha: sha() }));
    expect(retitled).toEqual({
      status: 200,
      body: { status: "ignored", reason: "merge request !43 updated without new commits" },
      idempotencyKey: expect.any(String),
    });
    expect(await allJobs()).toBe(before);
    const head = sha();
    const pushed = await deliverHook(hook, "Merge Request Hook", mr({ iid: 43, action: "update", sha: head, oldrev: sha() }));
    expect(pushed.status).toBe(202);
    expect((await previews().getJob(`open.web.43.${head}`))?.data).toMatchObject({ kind: "open", iid: 43, sha: head });
    const forkHead = sha();
    const fork = await deliverHook(hook, "Merge Request Hook", mr({ iid: 44, action: "open", sha: forkHead, sourceProjectId: 99 }));
    expect(fork.status).toBe(202);
    expect((await previews().getJob(`open.web.44.${forkHead}`))?.data).toMatchObject({ fork: true });
  });

  it("close and merge queue the teardown with their reason, once per delivery", async () => {
    const key = randomUUID();
    const closeBody = mr({ iid: 42, action: "close", sha: sha() });
    const closed = await deliverHook(hook, "Merge Request Hook", closeBody, key);
    expect(closed).toMatchObject({ status: 202, body: { status: "queued", preview: { iid: 42, job: "close" } } });
    const id = deliveryKey(key, Buffer.from(JSON.stringify(closeBody)));
    expect((await previews().getJob(`close.web.42.${id}`))?.data).toEqual({
      kind: "close",
      app: "web",
      iid: 42,
      reason: "closed",
      deliveryId: id,
    });
    expect((await deliverHook(hook, "Merge Request Hook", closeBody, key)).status).toBe(200);
    const mergeKey = randomUUID();
    const mergeBody = mr({ iid: 43, action: "merge", sha: sha() });
    expect((await deliverHook(hook, "Merge Request Hook", mergeBody, mergeKey)).status).toBe(202);
    const mergeId = deliveryKey(mergeKey, Buffer.from(JSON.stringify(mergeBody)));
    expect((await previews().getJob(`close.web.43.${mergeId}`))?.data).toMatchObject({ kind: "close", iid: 43, reason: "merged" });
    const closes = (await previews().getJobs(["waiting"])).filter((j) => j.data.kind === "close");
    expect(closes).toHaveLength(2);
  });

  it("rejects a payload without what a preview needs (400, the field named) and other actions are ignored", async () => {
    const before = await allJobs();
    const body = mr({ iid: 45, action: "open", sha: sha() });
    const { author_id: _gone, ...attrs } = body.object_attributes;
    const bad = await deliverHook(hook, "Merge Request Hook", { ...body, object_attributes: attrs });
    expect(bad).toMatchObject({
      status: 400,
      body: { error: { code: "invalid_payload", message: expect.stringMatching(/object_attributes\.author_id/) } },
    });
    const approved = await deliverHook(hook, "Merge Request Hook", mr({ iid: 45, action: "approved", sha: sha() }));
    expect(approved).toMatchObject({
      status: 200,
      body: { status: "ignored", reason: 'merge request action "approved" does not change a preview' },
    });
    const wrongToken = await deliverHook({ ...hook, token: `${hook.token}x` }, "Merge Request Hook", body);
    expect(wrongToken.status).toBe(401);
    expect(await allJobs()).toBe(before);
  });

  it("a reopen at a commit whose open job already ran runs it again; the audit log has the previews' entries", async () => {
    const head = sha();
    expect((await deliverHook(hook, "Merge Request Hook", mr({ iid: 46, action: "open", sha: head }))).status).toBe(202);
    const connection = h.redis.duplicate({ maxRetriesPerRequest: null });
    const worker = new Worker("previews", async () => "done", { connection, prefix: h.prefix, autorun: false });
    const done = new Promise<void>((resolve) => worker.on("completed", (job) => job.id === `open.web.46.${head}` && resolve()));
    worker.run();
    await done;
    await worker.close();
    await connection.quit();
    expect(await (await previews().getJob(`open.web.46.${head}`))?.getState()).toBe("completed");
    expect((await deliverHook(hook, "Merge Request Hook", mr({ iid: 46, action: "reopen", sha: head }))).status).toBe(202);
    expect(await (await previews().getJob(`open.web.46.${head}`))?.getState()).toBe("waiting");

    let entries: { action: string; actor: string; target?: string }[] = [];
    for (let i = 0; i < 200 && !entries.some((e) => e.action === "preview.close"); i++) {
      entries = (await h.api("GET", "/audit?app=web&limit=500")).body.entries;
      await new Promise((r) => setImmediate(r));
    }
    expect(entries.filter((e) => e.action.startsWith("preview.")).map((e) => `${e.action} ${e.actor} ${e.target}`)).toEqual(
      expect.arrayContaining(["preview.open ada !42", "preview.close ada !42", "preview.close ada !43", "preview.open ada !46"]),
    );
  });
});
