import { recordKeys } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionStore } from "../../services/api/src/dashboard/session.js";
import { pushPayload } from "../support/api/fixtures.js";
import { API_TOKEN, type ApiHarness, startApi } from "../support/api/harness.js";
import { hoist } from "./cli.js";

const CANARY = "canary-audit-7f3e9b1c2d";

interface Entry {
  id: string;
  at: string;
  actor: string;
  via: string;
  action: string;
  app?: string;
  environment: string | null;
  target?: string;
  before?: unknown;
  after?: unknown;
  address?: string;
}

/** Waits (by polling the API, as a reader would) until the log holds `n` entries. */
async function entriesWhen(h: ApiHarness, n: number): Promise<Entry[]> {
  for (let i = 0; i < 200; i++) {
    const res = await h.api("GET", "/audit?limit=500");
    if (res.body.entries.length >= n) return res.body.entries;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`the audit log never reached ${n} entries`);
}

describe("audit log: every write once, with its actor and way in, nothing secret", () => {
  let h: ApiHarness;
  let cliToken: string;
  let webhookToken: string;
  let hookUrl: string;

  beforeAll(async () => {
    h = await startApi({ env: { HOIST_PUBLIC_URL: "http://127.0.0.1" } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("records API, CLI, dashboard and webhook writes with who, how, what, where", async () => {
    // API, with the bootstrap token.
    const created = await h.api("POST", "/apps", {
      name: "shop",
      branch: "main",
      repo: { sshUrl: "git@gitlab.example.com:acme/shop.git" },
      target: { kind: "local", services: { web: { port: 18999 } } },
    });
    expect(created.status).toBe(201);
    webhookToken = created.body.webhook.token;
    hookUrl = created.body.webhook.url.replace("http://127.0.0.1", h.url);
    expect((await h.api("PATCH", "/apps/shop/env", { set: { DATABASE_PASSWORD: CANARY, GREETING: `hello ${CANARY}` } })).status).toBe(200);
    expect(
      (await h.api("PATCH", "/apps/shop", { slackWebhookUrl: `https://hooks.slack.com/services/T0/B0/${CANARY}`, branch: "release" }))
        .status,
    ).toBe(200);
    // A refused write is no entry.
    expect((await h.api("PATCH", "/apps/shop/env", { set: { "bad name": "x" } })).status).toBe(400);
    const tok = await h.api("POST", "/tokens", { name: "release-bot", role: "deployer" });
    cliToken = tok.body.token;

    // CLI, with a personal token.
    const deploy = await hoist(["deploy", "shop", "refs/heads/release", "--sha", "b".repeat(40)], {
      HOIST_URL: h.url,
      HOIST_TOKEN: cliToken,
    });
    expect(deploy.stderr).toBe("");
    expect(deploy.code).toBe(0);

    // Dashboard, signed in with the bootstrap token: cancel the CLI's build.
    const build = (await h.api("GET", "/apps/shop/builds")).body.builds[0];
    const session = await new SessionStore(h.redis, h.prefix).create({ kind: "bootstrap" });
    const cancel = await fetch(`${h.url}/builds/${build.id}/cancel`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `hoist_session=${session.id}`, "content-type": "application/x-www-form-urlencoded", origin: h.url },
      body: new URLSearchParams({ csrf: session.csrf }),
    });
    expect(cancel.status).toBe(303);

    // Webhook: GitLab's push on the app's branch, by jsmith (the payload's user_username); then
    // one whose payload names nobody: GitLab itself is the actor.
    const deliver = (body: object) =>
      fetch(hookUrl, {
        method: "POST",
        headers: { "content-type": "application/json", "x-gitlab-token": webhookToken, "x-gitlab-event": "Push Hook" },
        body: JSON.stringify(body),
      });
    expect((await deliver(pushPayload({ branch: "release" }))).status).toBe(202);
    const { user_username: _nobody, ...anonymous } = pushPayload({ branch: "release" });
    expect((await deliver(anonymous)).status).toBe(202);

    const entries = await entriesWhen(h, 8);
    const summary = entries.map((e) => `${e.action} ${e.actor} ${e.via} ${e.app ?? "-"}`);
    expect(summary).toEqual([
      "app.create bootstrap api shop",
      "app.env.update bootstrap api shop",
      "app.update bootstrap api shop",
      "token.create bootstrap api -",
      "build.create release-bot cli shop",
      "build.cancel bootstrap dashboard shop",
      "build.create jsmith webhook shop",
      "build.create gitlab webhook shop",
    ]);
    for (const e of entries) {
      expect(Date.parse(e.at)).toBeGreaterThan(Date.now() - 60_000);
      expect(e.address).toBe("127.0.0.1");
      // No environments yet: every entry says so.
      expect(e.environment).toBeNull();
    }
    const update = entries[2] as Entry;
    expect(update.before).toMatchObject({ branch: "main" });
    expect(update.after).toMatchObject({ branch: "release" });
    expect(entries[1]?.after).toEqual({ set: ["DATABASE_PASSWORD", "GREETING"], unset: [] });
    expect(entries[5]?.target).toBe(build.id);
  });

  it("holds nothing secret: the stream as stored has no canary, no token", async () => {
    const raw = JSON.stringify(await h.redis.xrange(recordKeys(h.prefix).audit, "-", "+"));
    expect(raw.length).toBeGreaterThan(500);
    for (const secret of [CANARY, cliToken, webhookToken, API_TOKEN]) expect(raw).not.toContain(secret);
  });

  it("filters by app, actor and time, pages with a cursor, and exports JSON lines", async () => {
    const all = (await h.api("GET", "/audit")).body.entries as Entry[];
    const byActor = await h.api("GET", "/audit?actor=release-bot");
    expect(byActor.body.entries.map((e: Entry) => e.action)).toEqual(["build.create"]);
    expect((await h.api("GET", "/audit?app=nope")).body.entries).toEqual([]);
    expect((await h.api("GET", `/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.entries).toEqual(
      [],
    );
    const since = (all[3] as Entry).at;
    expect((await h.api("GET", `/audit?since=${encodeURIComponent(since)}`)).body.entries.length).toBeGreaterThanOrEqual(all.length - 3);
    const paged: Entry[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const res = await h.api("GET", `/audit?limit=2${next ? `&cursor=${next}` : ""}`);
      paged.push(...res.body.entries);
      next = res.body.next;
      pages++;
    } while (next);
    expect(paged).toEqual(all);
    expect(pages).toBe(Math.ceil(all.length / 2) + (all.length % 2 === 0 ? 1 : 0));
    const bad = await h.api("GET", "/audit?since=yesterday");
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("since: an ISO 8601 time");

    const exported = await fetch(`${h.url}/v1/audit/export?app=shop`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(exported.headers.get("content-type")).toMatch(/^application\/jsonl/);
    const lines = (await exported.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Entry);
    expect(lines).toEqual(all.filter((e) => e.app === "shop"));

    const cli = await hoist(["audit", "--app", "shop", "--jsonl"], { HOIST_URL: h.url, HOIST_TOKEN: API_TOKEN });
    expect(cli.code).toBe(0);
    expect(
      cli.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual(lines);
    const table = await hoist(["audit", "--actor", "jsmith"], { HOIST_URL: h.url, HOIST_TOKEN: API_TOKEN });
    expect(table.stdout).toMatch(/jsmith\s+webhook\s+build\.create\s+shop/);
    expect(table.stdout).not.toMatch(/\bgitlab\b/);
  });

  it("a deployer may not read the audit log; the dashboard shows it to an admin", async () => {
    const denied = await fetch(`${h.url}/v1/audit`, { headers: { authorization: `Bearer ${cliToken}` } });
    expect(denied.status).toBe(403);
    const session = await new SessionStore(h.redis, h.prefix).create({ kind: "bootstrap" });
    const page = await fetch(`${h.url}/audit?app=shop`, { headers: { cookie: `hoist_session=${session.id}` } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html.match(/<tr data-action=/g)?.length).toBe(7);
    expect(html).toContain('href="/audit/export?app=shop"');
    // The settings change, masked as stored: the branch moved, the Slack URL is a mask.
    expect(html).toMatch(/&quot;branch&quot;: &quot;main&quot;[\s\S]*&quot;branch&quot;: &quot;release&quot;/);
    expect(html).toMatch(
      /&quot;slack&quot;: \{\s*&quot;configured&quot;: false\s*\}[\s\S]*&quot;slack&quot;: \{\s*&quot;configured&quot;: true/,
    );
    expect(html).not.toContain(CANARY);
    // The page's export link: the same entries as JSON lines, for the session.
    const exported = await fetch(`${h.url}/audit/export?app=shop`, { headers: { cookie: `hoist_session=${session.id}` } });
    expect(exported.status).toBe(200);
    expect(exported.headers.get("content-type")).toMatch(/^application\/jsonl/);
    const lines = (await exported.text()).trim().split("\n");
    expect(lines).toHaveLength(7);
    expect(lines.map((l) => (JSON.parse(l) as Entry).app)).toEqual(Array(7).fill("shop"));
  });
});
