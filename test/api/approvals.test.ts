import { ReleaseGates } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenStore } from "../../services/api/src/auth/token-store.js";
import { signSlack } from "../../services/api/src/domain/slack-signature.js";
import { hoist } from "../people/cli.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";

const SECRET = "slack-signing-secret-for-the-api-test";
const APP = "shop";

/**
 * The API's side of approvals, over real Redis: the routes (people only, maintainer, each person
 * once, the deploy queued by the approval that completes the count), reject and deploy-now, and
 * POST /slack/actions (Slack's signature, the linked person, their role). The deployer's side
 * (which holds releases) is test/environments/approvals-freezes.test.ts.
 */
describe("approve, reject, deploy-now and Slack's buttons at the API", () => {
  let h: ApiHarness;
  let gates: ReleaseGates;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    h = await startApi({ env: { HOIST_SLACK_SIGNING_SECRET: SECRET, HOIST_SLACK_USERS: "U0ADA=11,U0BOB=12,U0EVE=13" } });
    gates = new ReleaseGates(h.deps.records, h.deps.queues);
    await h.deps.records.apps.create({
      name: APP,
      branch: "main",
      repo: { sshUrl: "ssh://git@127.0.0.1/acme/shop.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
    });
    const store = new TokenStore(h.redis, h.prefix);
    for (const [id, name, role] of [
      ["11", "ada", "maintainer"],
      ["12", "bob", "maintainer"],
      ["13", "eve", "deployer"],
    ] as const) {
      await h.redis.hset(h.deps.records.keys.person(id), { id, username: name });
      await h.redis.hset(h.deps.records.keys.grants, `${id}:${APP}`, role);
      tokens[name] = (await store.create({ name: `${name}-cli`, role: "maintainer", owner: `user:${id}` })).token;
    }
    // A token nobody owns, with every role: still nobody.
    tokens.ci = (await store.create({ name: "ci", role: "admin" })).token;
  });
  afterAll(async () => {
    await h?.close();
  });

  const held = async (to: "awaiting_approval" | "frozen", requiredApprovals = 2) => {
    const build = await h.deps.records.builds.create({ app: APP, ref: "refs/heads/main", sha: "c".repeat(40), trigger: "push" });
    const r = await h.deps.records.releases.create({ app: APP, buildId: build.id, images: [] });
    expect((await gates.hold(r, to, to === "frozen" ? { frozenUntil: "2026-12-07T07:00:00.000Z" } : { requiredApprovals })).kind).toBe(
      "held",
    );
    return r;
  };
  const as = async (who: string, path: string, body?: unknown, ua = "curl/8") => {
    const res = await fetch(`${h.url}/v1${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens[who]}`, "content-type": "application/json", "user-agent": ua },
      body: JSON.stringify(body ?? {}),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const at = (id: string, action: string, env = "production") => `/apps/${APP}/environments/${env}/releases/${id}/${action}`;
  const deployJobs = async () =>
    (await h.deps.queues.queue("deploy").getJobs(["waiting", "delayed", "prioritized"])).map((j) => String(j.id));
  const slack = async (user: string, action: string, value: string, opts: { secret?: string; ts?: number } = {}) => {
    const payload = {
      type: "block_actions",
      user: { id: user, username: user.toLowerCase() },
      actions: [{ action_id: `hoist.release.${action}`, value }],
    };
    const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
    const ts = opts.ts ?? Math.floor(Date.now() / 1000);
    const res = await fetch(`${h.url}/slack/actions`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": String(ts),
        "x-slack-signature": signSlack(opts.secret ?? SECRET, ts, body),
      },
      body,
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it("people approve, each once; the shared tokens cannot; the approval that completes the count queues the deploy", async () => {
    const r = await held("awaiting_approval", 2);
    expect((await h.api("POST", at(r.id, "approve"))).body.error.code).toBe("person_required");
    expect((await as("ci", at(r.id, "approve"))).body.error.code).toBe("person_required");
    expect((await as("eve", at(r.id, "approve"))).status).toBe(403);
    const one = await as("ada", at(r.id, "approve"), {}, "hoist-cli/0.1.0");
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      status: "awaiting_approval",
      requiredApprovals: 2,
      approvals: [{ by: "user:11", name: "ada", via: "cli" }],
    });
    expect((await as("ada", at(r.id, "approve"))).body.approvals).toHaveLength(1);
    expect(await deployJobs()).toEqual([]);
    const two = await as("bob", at(r.id, "approve"));
    expect(two.body.approvals.map((a: { name: string }) => a.name)).toEqual(["ada", "bob"]);
    const jobs = await deployJobs();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatch(new RegExp(`^${r.id}\\.approved\\.\\d+$`));
    // bob asks again (his answer was lost): the same job, not a second one.
    await as("bob", at(r.id, "approve"));
    expect(await deployJobs()).toEqual(jobs);
    // Another environment's path does not reach it.
    expect((await as("bob", at(r.id, "approve", "staging"))).status).toBe(404);
    const audit = (await h.redis.xrange(h.deps.records.keys.audit, "-", "+")).map(([, f]) => f.join(" "));
    const approvals = audit.filter((e) => e.includes("release.approve"));
    expect(approvals).toHaveLength(4);
    // Each names the environment its route acted on.
    for (const e of approvals) expect(e).toContain('"environment":"production"');
  });

  it("reject needs a reason and records who; deploy-now works on a frozen release only and records the override", async () => {
    const r = await held("awaiting_approval", 1);
    expect((await as("ada", at(r.id, "reject"), {})).body.error.message).toContain("reason is required");
    const rejected = await as("ada", at(r.id, "reject"), { reason: "wrong branch" });
    expect(rejected.body).toMatchObject({
      status: "rejected",
      reason: "rejected by ada: wrong branch",
      rejection: { name: "ada", reason: "wrong branch" },
    });
    expect((await as("bob", at(r.id, "approve"))).body.error.code).toBe("not_awaiting_approval");
    expect((await as("ada", at(r.id, "deploy-now"), { reason: "x" })).body.error.code).toBe("not_frozen");

    const f = await held("frozen");
    const now = await as("ada", at(f.id, "deploy-now"), { reason: "checkout is down" });
    expect(now.status).toBe(202);
    expect(now.body.override).toMatchObject({ by: "user:11", name: "ada", reason: "checkout is down" });
    expect((await deployJobs()).some((j) => j.startsWith(`${f.id}.deploy-now.`))).toBe(true);
    // An operator without a person (the bootstrap token) may override a freeze; it is recorded as such.
    const g = await held("frozen");
    expect((await h.api("POST", at(g.id, "deploy-now"), { reason: "incident 42" })).body.override).toMatchObject({
      by: "bootstrap",
      reason: "incident 42",
    });
  });

  it("POST /slack/actions: 401 without Slack's signature; a linked maintainer's click approves; others are told why", async () => {
    const r = await held("awaiting_approval", 2);
    expect((await slack("U0ADA", "approve", r.id, { secret: "some-other-signing-secret" })).status).toBe(401);
    expect((await slack("U0ADA", "approve", r.id, { ts: Math.floor(Date.now() / 1000) - 600 })).body.error.message).toContain("5 minutes");
    const unsigned = await fetch(`${h.url}/slack/actions`, {
      method: "POST",
      body: "payload=%7B%7D",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(unsigned.status).toBe(401);
    expect((await h.deps.records.releases.require(r.id)).approvals).toBeUndefined();

    expect((await slack("U0NOPE", "approve", r.id)).body.text).toContain("not linked to a Hoist person");
    expect((await slack("U0EVE", "approve", r.id)).body.text).toContain("needs the maintainer role; you have deployer");
    const ok = await slack("U0ADA", "approve", r.id);
    expect(ok).toMatchObject({ status: 200, body: { response_type: "ephemeral", text: expect.stringContaining("1 of 2") } });
    expect((await h.deps.records.releases.require(r.id)).approvals).toEqual([
      expect.objectContaining({ by: "user:11", name: "ada", via: "slack" }),
    ]);
    const rejected = await slack("U0BOB", "reject", r.id);
    expect(rejected.body.text).toContain("Rejected release");
    expect(await h.deps.records.releases.require(r.id)).toMatchObject({
      status: "rejected",
      rejection: { name: "bob", via: "slack", reason: "rejected in Slack by bob" },
    });
    expect((await slack("U0ADA", "approve", r.id)).body.text).toContain("not awaiting approval");
  });

  it("hoist approve, reject and deploy-now: the person's token, via cli", async () => {
    const env = (who: string) => ({ HOIST_URL: h.url, HOIST_TOKEN: tokens[who] as string });
    const r = await held("awaiting_approval", 2);
    const approved = await hoist(["approve", APP, "production", r.id], env("ada"));
    expect(approved).toMatchObject({ code: 0, stdout: expect.stringContaining("1 of 2 approvals (ada); waiting for more") });
    expect((await h.deps.records.releases.require(r.id)).approvals).toEqual([expect.objectContaining({ name: "ada", via: "cli" })]);
    expect((await hoist(["reject", APP, "production", r.id], env("bob"))).code).toBe(2);
    const rejected = await hoist(["reject", APP, "production", r.id, "--reason", "not today"], env("bob"));
    expect(rejected).toMatchObject({ code: 0, stdout: expect.stringContaining("is rejected: not today") });
    const again = await hoist(["approve", APP, "production", r.id], env("ada"));
    expect(again).toMatchObject({ code: 3, stderr: expect.stringContaining("HTTP 409 not_awaiting_approval") });
    const f = await held("frozen");
    const now = await hoist(["deploy-now", APP, "production", f.id, "--reason", "hotfix"], env("ada"));
    expect(now).toMatchObject({ code: 0, stdout: expect.stringContaining("through the freeze: hotfix") });
  });

  it("without HOIST_SLACK_SIGNING_SECRET the endpoint is off", async () => {
    const other = await startApi();
    try {
      const res = await fetch(`${other.url}/slack/actions`, { method: "POST", body: "payload=%7B%7D" });
      expect(res.status).toBe(404);
    } finally {
      await other.close();
    }
  });
});
