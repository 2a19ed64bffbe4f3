import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onBuildCanceled, secretContexts } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushPayload, sha } from "../support/api/fixtures.js";
import { API_TOKEN, type ApiHarness, startApi } from "../support/api/harness.js";
import { deliver } from "./webhook-helpers.js";

describe("apps API", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("needs the API token", async () => {
    const res = await fetch(`${h.url}/v1/apps`, { headers: { authorization: "Bearer wrong" } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: "unauthorized", message: expect.stringContaining("Bearer") } });
  });

  it("creates an app with its own ed25519 deploy key and a webhook shown once", async () => {
    const res = await h.api("POST", "/apps", { name: "shop", repo: { sshUrl: "git@gitlab.example.com:acme/shop.git", projectId: 7 } });
    expect(res.status).toBe(201);
    const { app, webhook, deployKey } = res.body;
    expect(deployKey.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ hoist:shop$/);
    expect(webhook.url).toMatch(/^https:\/\/hoist\.example\.test\/webhooks\/gitlab\/[A-Za-z0-9_-]{24}$/);
    expect(Buffer.from(webhook.token, "base64url")).toHaveLength(32);
    expect(app).toMatchObject({
      name: "shop",
      branch: "main",
      supersede: "running",
      tagBuilds: true,
      target: { kind: "local" },
      webhook: { url: webhook.url },
    });
    expect(JSON.stringify(app)).not.toContain(webhook.token);

    const stored = await h.deps.records.apps.require("shop");
    expect(JSON.stringify(stored)).not.toContain(webhook.token);
    expect(JSON.stringify(stored)).not.toContain("PRIVATE KEY");
    const privateKey = (await h.deps.secrets.open(stored.deployKey!.privateKey, secretContexts.deployKey("shop"))).toString();
    expect(privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    // The private key is a usable OpenSSH key whose public half is the one handed out.
    const dir = mkdtempSync(join(tmpdir(), "hoist-keycheck-"));
    try {
      writeFileSync(join(dir, "k"), privateKey, { mode: 0o600 });
      const derived = execFileSync("ssh-keygen", ["-y", "-f", join(dir, "k")], { encoding: "utf8" }).trim();
      expect(derived.split(" ").slice(0, 2)).toEqual(deployKey.publicKey.split(" ").slice(0, 2));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const other = await h.api("POST", "/apps", { name: "shop2", repo: { sshUrl: "ssh://git@gitlab.example.com:2222/acme/shop.git" } });
    expect(other.status).toBe(201);
    expect(other.body.deployKey.publicKey).not.toBe(deployKey.publicKey);
    expect(other.body.webhook.token).not.toBe(webhook.token);
  });

  it("validates names, URLs and fields, and answers 409 for a taken name", async () => {
    const dup = await h.api("POST", "/apps", { name: "shop", repo: { sshUrl: "git@h:a/b.git" } });
    expect(dup).toMatchObject({ status: 409, body: { error: { code: "conflict" } } });
    const badName = await h.api("POST", "/apps", { name: "Shop_1", repo: { sshUrl: "git@h:a/b.git" } });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toMatch(/^name: .*DNS label/);
    const badUrl = await h.api("POST", "/apps", { name: "x1", repo: { sshUrl: "https://gitlab.example.com/a/b.git" } });
    expect(badUrl.body.error.message).toMatch(/repo\.sshUrl/);
    const badTarget = await h.api("POST", "/apps", { name: "x2", repo: { sshUrl: "git@h:a/b.git" }, target: { kind: "ecs" } });
    expect(badTarget.status).toBe(400);
    expect(badTarget.body.error.message).toMatch(/target\.cluster/);
    const unknown = await h.api("POST", "/apps", { name: "x3", repo: { sshUrl: "git@h:a/b.git" }, colour: "red" });
    expect(unknown.status).toBe(400);
    const notJson = await fetch(`${h.url}/v1/apps`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body: "{",
    });
    expect(notJson.status).toBe(400);
    expect((await h.api("GET", "/apps/nope")).status).toBe(404);
  });

  it("lists, shows and updates apps, sealing env and notification secrets and never returning them", async () => {
    const list = await h.api("GET", "/apps");
    expect(list.body.apps.map((a: { name: string }) => a.name)).toEqual(expect.arrayContaining(["shop", "shop2"]));
    const slack = "https://hooks.slack.com/services/T000/B000/XXXXcanaryXXXX";
    const res = await h.api("PATCH", "/apps/shop", {
      branch: "release/*",
      env: { DATABASE_URL: "postgres://u:pw-canary@db/x", PORT: "8080" },
      slackWebhookUrl: slack,
      outgoingWebhook: { url: "https://hooks.example.com/hoist" },
      target: { kind: "ecs", cluster: "prod", service: "shop", region: "eu-west-1" },
      buildTimeoutSec: 600,
    });
    expect(res.status).toBe(200);
    expect(res.body.outgoingWebhook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(res.body.app).toMatchObject({
      branch: "release/*",
      env: { configured: true },
      slack: { configured: true },
      outgoingWebhook: { url: "https://hooks.example.com/hoist", configured: true },
      target: { kind: "ecs", cluster: "prod" },
      buildTimeoutSec: 600,
    });
    const shown = JSON.stringify((await h.api("GET", "/apps/shop")).body);
    for (const secret of ["pw-canary", "canaryXXXX", res.body.outgoingWebhook.secret]) expect(shown).not.toContain(secret);
    const stored = await h.deps.records.apps.require("shop");
    expect(JSON.parse((await h.deps.secrets.open(stored.env!, secretContexts.appEnv("shop"))).toString())).toEqual({
      DATABASE_URL: "postgres://u:pw-canary@db/x",
      PORT: "8080",
    });
    expect((await h.deps.secrets.open(stored.slackWebhookUrl!, secretContexts.slackWebhookUrl("shop"))).toString()).toBe(slack);
    expect((await h.deps.secrets.open(stored.outgoingWebhook!.secret, secretContexts.outgoingWebhookSecret("shop"))).toString()).toBe(
      res.body.outgoingWebhook.secret,
    );
    const cleared = await h.api("PATCH", "/apps/shop", { slackWebhookUrl: null, env: null, outgoingWebhook: null });
    expect(cleared.body.app).toMatchObject({
      env: { configured: false },
      slack: { configured: false },
      outgoingWebhook: { configured: false },
    });
    expect((await h.api("PATCH", "/apps/shop", { env: { "1BAD": "x" } })).status).toBe(400);
    expect((await h.api("PATCH", "/apps/nope", { branch: "main" })).status).toBe(404);
  });

  it("edits env one variable at a time, and simultaneous edits of one app all land", async () => {
    expect((await h.api("POST", "/apps", { name: "envy", repo: { sshUrl: "git@h:a/envy.git" } })).status).toBe(201);
    expect((await h.api("PATCH", "/apps/envy/env", { set: { KEEP: "1", DROP: "2" } })).body).toEqual({ names: ["DROP", "KEEP"] });
    const edits = await Promise.all(
      Array.from({ length: 12 }, (_, i) => h.api("PATCH", "/apps/envy/env", { set: { [`VAR_${i}`]: `v${i}` } })),
    );
    expect(edits.map((e) => e.status)).toEqual(Array(12).fill(200));
    expect((await h.api("PATCH", "/apps/envy/env", { unset: ["DROP"] })).status).toBe(200);
    const names = (await h.api("GET", "/apps/envy/env")).body.names as string[];
    expect(names).toEqual(["KEEP", ...Array.from({ length: 12 }, (_, i) => `VAR_${i}`)].sort());
    const stored = await h.deps.records.apps.require("envy");
    const env = JSON.parse((await h.deps.secrets.open(stored.env!, secretContexts.appEnv("envy"))).toString());
    expect(env).toMatchObject({ KEEP: "1", VAR_0: "v0", VAR_11: "v11" });
    expect((await h.api("PATCH", "/apps/envy/env", { unset: names })).body).toEqual({ names: [] });
    expect((await h.deps.records.apps.require("envy")).env).toBeUndefined();
    expect((await h.api("PATCH", "/apps/nope/env", { set: { A: "1" } })).status).toBe(404);
  });

  it("rotates the webhook token: the new one works, the old one no longer does", async () => {
    const created = await h.api("POST", "/apps", { name: "rot", repo: { sshUrl: "git@h:a/rot.git" } });
    const rotated = await h.api("POST", "/apps/rot/webhook/rotate");
    expect(rotated.status).toBe(200);
    expect(rotated.body.webhook.url).toBe(created.body.webhook.url);
    expect(rotated.body.webhook.token).not.toBe(created.body.webhook.token);
    const url = `${h.url}${new URL(rotated.body.webhook.url).pathname}`;
    expect((await deliver(url, { event: "Push Hook", token: created.body.webhook.token, body: pushPayload() })).status).toBe(401);
    expect((await deliver(url, { event: "Push Hook", token: rotated.body.webhook.token, body: pushPayload() })).status).toBe(202);
  });

  it("deletes an app: its webhook stops answering, its builds stay readable", async () => {
    const created = await h.api("POST", "/apps", { name: "gone", repo: { sshUrl: "git@h:a/gone.git" } });
    const build = await h.api("POST", "/apps/gone/builds", { ref: "main", sha: sha() });
    expect((await h.api("DELETE", "/apps/gone")).status).toBe(204);
    expect((await h.api("GET", "/apps/gone")).status).toBe(404);
    const url = `${h.url}${new URL(created.body.webhook.url).pathname}`;
    expect((await deliver(url, { event: "Push Hook", token: created.body.webhook.token, body: pushPayload() })).status).toBe(404);
    expect((await h.api("GET", `/builds/${build.body.id}`)).status).toBe(200);
  });
});

describe("builds API", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi();
    await h.api("POST", "/apps", { name: "api", repo: { sshUrl: "git@h:a/api.git" } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("starts manual builds, lists them newest first and shows one", async () => {
    const s1 = sha();
    const first = await h.api("POST", "/apps/api/builds", { ref: "main", sha: s1 });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ app: "api", number: 1, ref: "main", sha: s1, status: "queued", trigger: "manual" });
    expect(new Date(first.body.createdAt).toISOString()).toBe(first.body.createdAt);
    expect((await h.deps.queues.queue("build").getJob(first.body.id))?.data).toEqual({ kind: "build", buildId: first.body.id });
    const second = await h.api("POST", "/apps/api/builds", { ref: "feature", sha: sha() });
    const list = await h.api("GET", "/apps/api/builds");
    expect(list.body.builds.map((b: { number: number }) => b.number)).toEqual([2, 1]);
    expect((await h.api("GET", `/builds/${second.body.id}`)).body.id).toBe(second.body.id);
    expect((await h.api("GET", "/builds/bld_missing")).status).toBe(404);
    expect((await h.api("POST", "/apps/api/builds", { ref: "main", sha: "abc" })).body.error.message).toMatch(/^sha: /);
    expect((await h.api("POST", "/apps/none/builds", { ref: "main", sha: sha() })).status).toBe(404);
  });

  it("cancels a queued or running build once, announcing it to builders", async () => {
    const b = (await h.api("POST", "/apps/api/builds", { ref: "x", sha: sha() })).body;
    const sub = h.redis.duplicate({ enableOfflineQueue: true });
    let announce: (id: string) => void = () => {};
    const announced = new Promise<string>((resolve) => {
      announce = resolve;
    });
    await onBuildCanceled(sub, h.prefix, (id) => announce(id));
    await h.deps.records.builds.transition(b.id, ["queued"], { status: "running", startedAt: new Date().toISOString() });
    const res = await h.api("POST", `/builds/${b.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "canceled", reason: "canceled by user", canceledBy: "user" });
    expect(res.body.finishedAt).toBeDefined();
    expect(await announced).toBe(b.id);
    // Slack hears of every cancel; the app is not linked to GitLab, so no commit status job is made for it.
    const notify = h.deps.queues.queue("notify");
    expect((await notify.getJob(`slack.build.canceled.${b.id}`))?.data).toMatchObject({ event: "build.canceled", app: "api" });
    expect(await notify.getJob(`gitlab-status.build.canceled.${b.id}`)).toBeUndefined();
    const again = await h.api("POST", `/builds/${b.id}/cancel`);
    expect(again).toMatchObject({ status: 409, body: { error: { code: "conflict" } } });
    expect((await h.api("POST", "/builds/bld_nope/cancel")).status).toBe(404);
    sub.disconnect();
  });
});
