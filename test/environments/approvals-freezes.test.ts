import { newId, type Release, secretContexts } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenStore } from "../../services/api/src/auth/token-store.js";
import { signSlack } from "../../services/api/src/domain/slack-signature.js";
import { createDocker } from "../../services/deployer/src/adapters/clients.js";
import { DeployerHarness } from "../../services/deployer/src/testing/harness.js";
import { untilSettled } from "../chaos/support.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { removeLocalApp } from "../support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../support/deploy/http-app.js";
import { freezePeriodRoutes } from "../support/gitlab/freeze-periods.js";
import { type GitlabTestServer, startGitlabServer } from "../support/gitlab/server.js";
import { freePort } from "../support/net.js";

const SLACK_SECRET = "slack-signing-secret-0123456789abcdef";
const docker = createDocker();
const app = `gates-${process.pid}`;

/**
 * The approvals and freeze bullets, end to end on one app: the real API (its routes and
 * POST /slack/actions) and a real deploy worker over the same Redis, rolling out real containers
 * on the local target; the worker's clock is injected (real time moved by `clock.offsetMs`) so a
 * freeze can be open "now" and close a few real seconds later.
 */
describe("approvals and freezes: one environment, people, Slack, a clock inside a freeze", () => {
  const h = new DeployerHarness();
  const clock = { offsetMs: 0 };
  let api: ApiHarness;
  let gitlab: GitlabTestServer;
  let port: number;
  let tag: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    tag = await buildHttpAppImage(docker, builderTag(app, "web", 1), "gated");
    port = await freePort();
    await h.createApp(app, { kind: "local", services: { web: { port } } });
    api = await startApi({
      prefix: h.prefix,
      secrets: h.secrets,
      env: { HOIST_SLACK_SIGNING_SECRET: SLACK_SECRET, HOIST_SLACK_USERS: "U0ADA=101,U0BOB=102,U0EVE=103" },
    });
    h.startWorker({ now: () => Date.now() + clock.offsetMs });
    // Three people: ada and bob maintain the app, eve only views it.
    const store = new TokenStore(h.redis, h.prefix);
    for (const [id, name, role] of [
      ["101", "ada", "maintainer"],
      ["102", "bob", "maintainer"],
      ["103", "eve", "viewer"],
    ] as const) {
      await h.redis.hset(h.records.keys.person(id), { id, username: name });
      await h.redis.hset(h.records.keys.grants, `${id}:${app}`, role);
      tokens[name] = (await store.create({ name: `${name}'s laptop`, role: "maintainer", owner: `user:${id}` })).token;
    }
    gitlab = await startGitlabServer([freezePeriodRoutes]);
  }, 120_000);
  afterAll(async () => {
    await gitlab?.close();
    await api?.close();
    await removeLocalApp(docker, app);
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {});
    await h.close();
  });

  const as = async (who: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.url}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who] ?? who}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const gate = (id: string, action: string) => `/apps/${app}/environments/production/releases/${id}/${action}`;
  const release = async () => {
    const r = await h.createRelease(app, [{ service: "web", tag }], { GREETING: "hello" });
    await h.queues.enqueue("deploy", { kind: "deploy", releaseId: r.id });
    return r;
  };
  const until = (id: string, status: Release["status"], timeoutMs = 60_000) =>
    untilSettled(
      () => h.records.releases.require(id),
      (r) => r.status === status || ["live", "failed", "rejected"].includes(r.status),
      timeoutMs,
      25,
    );
  const slack = async (user: string, action: "approve" | "reject", releaseId: string, secret = SLACK_SECRET) => {
    const payload = {
      type: "block_actions",
      user: { id: user, username: user },
      actions: [{ action_id: `hoist.release.${action}`, value: releaseId }],
    };
    const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
    const ts = Math.floor(Date.now() / 1000);
    const res = await fetch(`${api.url}/slack/actions`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": String(ts),
        "x-slack-signature": signSlack(secret, ts, body),
      },
      body,
    });
    return { status: res.status, body: (await res.json()) as { text?: string; error?: { code: string } } };
  };
  const policy = (change: Record<string, unknown>) => api.api("PATCH", `/apps/${app}/environments/production`, change);

  it("requiredApprovals 2: one approval waits, the same person twice counts once, a second person's deploys it; Slack needs Slack's signature", async () => {
    expect((await policy({ requiredApprovals: 2 })).status).toBe(200);
    const r = await release();
    expect((await until(r.id, "awaiting_approval")).status).toBe("awaiting_approval");

    // The shared token is nobody: refused. A viewer is refused by role.
    expect((await api.api("POST", gate(r.id, "approve"))).body.error.code).toBe("person_required");
    expect((await as("eve", "POST", gate(r.id, "approve"))).status).toBe(403);

    const one = await as("ada", "POST", gate(r.id, "approve"));
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      status: "awaiting_approval",
      requiredApprovals: 2,
      approvals: [{ by: "user:101", name: "ada", via: "api" }],
    });
    // ada again, from Slack: still one person.
    expect((await slack("U0ADA", "approve", r.id)).body.text).toMatch(/1 of 2/);
    expect((await h.records.releases.require(r.id)).approvals).toHaveLength(1);
    // A Slack click with a bad signature changes nothing; an unlinked Slack user or a viewer is told why.
    expect(await slack("U0BOB", "approve", r.id, "not-the-signing-secret-at-all")).toMatchObject({
      status: 401,
      body: { error: { code: "bad_signature" } },
    });
    expect((await slack("U0NOBODY", "approve", r.id)).body.text).toContain("not linked to a Hoist person");
    expect((await slack("U0EVE", "approve", r.id)).body.text).toContain("needs the maintainer role");
    expect((await h.records.releases.require(r.id)).status).toBe("awaiting_approval");

    // bob's good click: the second person; the release deploys and serves.
    const t0 = performance.now();
    expect(await slack("U0BOB", "approve", r.id)).toMatchObject({ status: 200, body: { text: expect.stringContaining("2 of 2") } });
    const live = await until(r.id, "live");
    console.log(`second approval → live: ${Math.round(performance.now() - t0)} ms`);
    expect(live.status).toBe("live");
    expect(live.approvals?.map((a) => [a.name, a.via])).toEqual([
      ["ada", "api"],
      ["bob", "slack"],
    ]);
    expect(await fetch(`http://127.0.0.1:${port}/`).then((res) => res.status)).toBe(200);
    const notify = await h.notifyJobIds();
    expect(notify).toEqual(
      expect.arrayContaining([`slack.release.awaiting_approval.${r.id}`, `slack.release.approved.${r.id}`, `slack.release.live.${r.id}`]),
    );
    const audit = await api.redis.xrange(api.deps.records.keys.audit, "-", "+");
    expect(audit.map(([, f]) => f.join(" ")).join("\n")).toMatch(/release\.approve.*slack|slack.*release\.approve/);
    const fromSlack = audit.map(([, f]) => f.join(" ")).filter((e) => e.includes('"via":"slack"'));
    for (const e of fromSlack) expect(e).toMatch(/"environment":"[a-z][a-z0-9-]*"/);
  }, 120_000);

  it("a reject ends the release rejected with the reason; a newer release awaiting approval supersedes an older one", async () => {
    const older = await release();
    await until(older.id, "awaiting_approval");
    const newer = await release();
    await until(newer.id, "awaiting_approval");
    expect(await h.records.releases.require(older.id)).toMatchObject({
      status: "failed",
      reason: expect.stringContaining("superseded by release"),
    });
    expect((await as("bob", "POST", gate(newer.id, "reject"), {})).status).toBe(400);
    const rejected = await as("bob", "POST", gate(newer.id, "reject"), { reason: "the migration is not ready" });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({
      status: "rejected",
      rejection: { name: "bob", via: "api", reason: "the migration is not ready" },
    });
    expect((await as("ada", "POST", gate(newer.id, "approve"))).status).toBe(409);
    expect(await h.notifyJobIds()).toContain(`slack.release.rejected.${newer.id}`);
    expect((await policy({ requiredApprovals: 0 })).status).toBe(200);
  }, 120_000);

  it("a freeze open now: the release waits frozen and deploys when the window closes, within 1 s", async () => {
    // Friday 17:00 UTC for 62 h: closes Monday 07:00. The deployer's clock reads 3 s before that.
    expect((await policy({ freezes: [{ cron: "0 17 * * 5", duration: "62h", timezone: "UTC" }] })).status).toBe(200);
    clock.offsetMs = Date.parse("2026-12-07T06:59:57Z") - Date.now();
    const r = await release();
    const frozen = await until(r.id, "frozen");
    expect(frozen).toMatchObject({ status: "frozen", frozenUntil: "2026-12-07T07:00:00.000Z" });
    // When the window closes, on the real clock.
    const closes = Date.parse("2026-12-07T07:00:00Z") - clock.offsetMs;
    const live = await until(r.id, "live", 30_000);
    expect(live.status).toBe("live");
    const lateness = Date.parse(live.deployingAt as string) - closes;
    console.log(`freeze closed → deploying: ${lateness} ms late`);
    expect(lateness).toBeGreaterThanOrEqual(-50);
    expect(lateness).toBeLessThanOrEqual(1000);
  }, 120_000);

  it("deploy-now with a reason overrides an open freeze, and is recorded", async () => {
    clock.offsetMs = Date.parse("2026-12-05T12:00:00Z") - Date.now();
    const r = await release();
    await until(r.id, "frozen");
    expect((await as("ada", "POST", gate(r.id, "deploy-now"), {})).status).toBe(400);
    const res = await as("ada", "POST", gate(r.id, "deploy-now"), { reason: "payment outage hotfix" });
    expect(res.status).toBe(202);
    const live = await until(r.id, "live");
    expect(live).toMatchObject({ status: "live", override: { by: "user:101", name: "ada", reason: "payment outage hotfix" } });
    expect((await policy({ freezes: [] })).status).toBe(200);
  }, 120_000);

  it("a GitLab freeze period of the linked project blocks the same way", async () => {
    const bot = gitlab.state.addUser("hoist-bot", "glpat-gates-test");
    const project = gitlab.state.addProject(
      { path_with_namespace: "acme/gates", default_branch: "main", ssh_url_to_repo: "x" },
      gitlab.url,
    );
    gitlab.state.addMember(project, bot, "developer");
    gitlab.state.addFreezePeriod(project, { freeze_start: "0 23 * * 5", freeze_end: "0 7 * * 1", cron_timezone: "UTC" });
    const id = newId("glc");
    const token = await h.secrets.seal("glpat-gates-test", secretContexts.gitlabToken(id));
    await h.records.gitlabConnections.create({ id, url: gitlab.url, token, username: "hoist-bot" });
    await h.records.apps.update(app, { gitlab: { connectionId: id, projectId: project.id } });
    clock.offsetMs = Date.parse("2026-12-07T06:59:57Z") - Date.now();
    const r = await release();
    const frozen = await until(r.id, "frozen");
    expect(frozen).toMatchObject({
      status: "frozen",
      frozenUntil: "2026-12-07T07:00:00.000Z",
      freeze: expect.stringContaining("GitLab freeze period"),
    });
    expect(gitlab.state.requests.filter((q) => q.path === `/projects/${project.id}/freeze_periods`).length).toBeGreaterThan(0);
    expect((await until(r.id, "live", 30_000)).status).toBe("live");
  }, 120_000);
});
