import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABELS } from "../../services/deployer/src/adapters/local-target.js";
import { freePort } from "../../services/deployer/src/testing/ports.js";
import { removeLocalApp } from "../support/deploy/cleanup.js";
import { httpAppRepoFiles } from "../support/deploy/http-app.js";
import { deliverHook, pushPayload } from "../support/gitlab/deliver.js";
import { statusHistory } from "../support/gitlab/statuses.js";
import { dockerFromEnv } from "../support/images/base-images.js";
import type { ReceivedSpan } from "../support/otlp.js";
import { testRegistryTags } from "../support/registry/auth.js";
import { type E2eWorld, startE2eWorld } from "./world.js";

/**
 * Push to live, end to end: the four services as processes, an app linked through the GitLab
 * test server, `git push` of a small HTTP app over the real sshd, the Push Hook delivered as
 * GitLab does, then the build, the registry, the local target, Slack, GitLab's commit statuses
 * and one OpenTelemetry trace per push.
 */
const ZERO = "0".repeat(40);
const APP = `hello-${process.pid}`;
/** A value of the app's environment: a secret the audit log must never hold. */
const ENV_CANARY = `env-canary-${process.pid}-${Date.now()}`;
const docker = dockerFromEnv();

let w: E2eWorld;
let port: number;
let hook: { url: string; token?: string };
let before = ZERO;
let slackUrl = "";
let connectionId = "";
/** Every build a push started, in order. */
const pushed: string[] = [];

/** Commits and pushes `files` to main, then delivers the Push Hook GitLab would send; returns the build id. */
async function push(files: Record<string, string | null>, message: string): Promise<{ sha: string; buildId: string; t0: number }> {
  const sha = w.repo.commit(files, message);
  const t0 = Date.now();
  const payload = pushPayload({ project: w.project, repo: w.repo.barePath, ref: "refs/heads/main", before, after: sha });
  before = sha;
  const res = await deliverHook(hook, "Push Hook", payload);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  pushed.push((res.body as { buildId: string }).buildId);
  return { sha, buildId: (res.body as { buildId: string }).buildId, t0 };
}

/** Resolves once `check` holds (bounded); the stages are observed through the API as a user would. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function releaseOf(buildId: string) {
  const build = (await w.api("GET", `/builds/${buildId}`)).body;
  const finished = build?.build ?? build;
  return finished;
}

async function appText(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
  return (await res.text()).trim();
}

async function containers() {
  return (await docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${APP}`] } })).map((c) => ({
    release: c.Labels[LABELS.release],
    state: c.State,
  }));
}

function slackTexts(): string[] {
  return w.slack.posted.map((m) => m.text ?? "");
}

beforeAll(async () => {
  w = await startE2eWorld();
  port = await freePort();
}, 120_000);

afterAll(async () => {
  await removeLocalApp(docker, APP);
  await w?.close();
}, 60_000);

describe("push to live", () => {
  it("links an app through the API: GitLab holds its hook and read-only deploy key", async () => {
    const conn = await w.api("POST", "/gitlab/connections", { url: w.gitlab.url, token: w.gitlabToken });
    expect(conn.status, JSON.stringify(conn.body)).toBe(201);
    connectionId = conn.body.connection.id;
    slackUrl = w.slack.webhookUrl();
    const created = await w.api("POST", "/apps", {
      name: APP,
      branch: "main",
      repo: { sshUrl: "git@placeholder:acme/hello.git" },
      target: { kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 5 } } },
      slackWebhookUrl: slackUrl,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const linked = await w.api("POST", `/apps/${APP}/gitlab/link`, { connection: conn.body.connection.id, projectId: w.project.id });
    expect(linked.status, JSON.stringify(linked.body)).toBe(200);
    expect(w.gitlab.state.hooks).toHaveLength(1);
    expect(w.gitlab.state.deployKeys).toEqual([expect.objectContaining({ key: linked.body.app.deployKey.publicKey, can_push: false })]);
    expect(linked.body.app.repo.sshUrl).toBe(w.repo.sshUrl);
    const h = w.gitlab.state.hooks[0];
    if (!h) throw new Error("no hook");
    hook = h;
    expect(hook.url.startsWith(w.apiUrl)).toBe(true);
    // The app's environment: the builder masks its values in logs, the deployer hands it to the containers.
    const env = await w.api("PATCH", `/apps/${APP}/env`, { set: { GREETING_SECRET: ENV_CANARY } });
    expect(env.status, JSON.stringify(env.body)).toBe(200);
  });

  it("first push: built, in the registry, live on the local target, in Slack and on the commit, in one trace, within 60 s", async () => {
    const first = await push(httpAppRepoFiles("hello from the first push"), "first: hello");
    const build = await until(
      "the first build to finish",
      async () => {
        const b = await releaseOf(first.buildId);
        return b && ["succeeded", "failed", "canceled"].includes(b.status) ? b : undefined;
      },
      60_000,
    );
    expect(build, JSON.stringify(build)).toMatchObject({ status: "succeeded", sha: first.sha });
    const live = await w.slack.waitFor((r) => r.rawBody.includes(" is live "), 60_000 - (Date.now() - first.t0));
    expect(Date.now() - first.t0).toBeLessThan(60_000);
    expect(live.rawBody).toContain(`${APP} ${first.sha.slice(0, 8)} is live (release #1)`);

    // The image of the exact commit is in the registry.
    expect(await testRegistryTags(APP)).toContain("web.1");
    expect(build.images).toEqual([expect.objectContaining({ service: "web", tag: `${process.env.HOIST_TEST_REGISTRY}/${APP}:web.1` })]);

    // Live on the local target, answering with that commit's text.
    const releases = (await w.api("GET", `/apps/${APP}/releases`)).body.releases;
    expect(releases).toEqual([expect.objectContaining({ number: 1, buildId: first.buildId, status: "live" })]);
    expect(await appText()).toBe("hello from the first push");
    expect(await containers()).toEqual([{ release: releases[0].id, state: "running" }]);

    // Every status GitLab accepted for the commit, in order: per name it only moves forward
    // (pending → running → success), ends in success, and the build shows it was queued and ran.
    const rank = ["pending", "running", "success"];
    const posted = await until(
      "the commit statuses",
      async () => {
        const h = statusHistory(w.gitlab.state).filter((x) => x.sha === first.sha);
        const last = (name: string) => h.filter((x) => x.name === name).at(-1)?.status;
        return last("hoist/build") === "success" && last("hoist/deploy:production") === "success" ? h : undefined;
      },
      10_000,
    );
    for (const name of ["hoist/build", "hoist/deploy:production"]) {
      const seen = posted.filter((x) => x.name === name).map((x) => x.status);
      const steps = seen.map((st) => rank.indexOf(st));
      expect(steps, `${name}: ${seen.join(" → ")}`).toEqual([...steps].sort((a, b) => a - b));
      expect(steps, `${name}: ${seen.join(" → ")}`).not.toContain(-1);
      expect(seen.at(-1), `${name}: ${seen.join(" → ")}`).toBe("success");
      if (name === "hoist/build") expect(seen, `${name}: ${seen.join(" → ")}`).toEqual(expect.arrayContaining(["pending", "running"]));
    }
    const order = posted.map((x) => `${x.name}:${x.status}`);
    expect(order.indexOf("hoist/build:success")).toBeLessThan(order.indexOf("hoist/deploy:production:success"));

    // One trace: the webhook request, the build's clone/build/push, the deploy and its notifications.
    const webhookSpan = await w.otlp
      .waitFor((spans) => spans.some((s) => isWebhookSpan(s, first.buildId)), 10_000)
      .then((spans) => spans.find((s) => isWebhookSpan(s, first.buildId)) as ReceivedSpan);
    const releaseId = releases[0].id as string;
    const need = (spans: ReceivedSpan[]) => {
      const t = spans.filter((s) => s.traceId === webhookSpan.traceId);
      const has = (service: string, name: string, attrs: Record<string, string>) =>
        t.some((s) => s.service === service && s.name === name && Object.entries(attrs).every(([k, v]) => s.attributes[k] === v));
      return (
        has("hoist-builder", "build build", { "hoist.build_id": first.buildId }) &&
        has("hoist-builder", "clone", { "hoist.app": APP, "hoist.build_id": first.buildId }) &&
        has("hoist-builder", "build web", { "hoist.app": APP, "hoist.build_id": first.buildId }) &&
        has("hoist-builder", "push web", { "hoist.app": APP, "hoist.build_id": first.buildId }) &&
        has("hoist-deployer", "deploy deploy", { "hoist.release_id": releaseId }) &&
        has("hoist-deployer", "deploy local", { "hoist.app": APP, "hoist.build_id": first.buildId, "hoist.release_id": releaseId }) &&
        has("hoist-notifier", "notify slack", { "hoist.event": "release.live", "hoist.release_id": releaseId }) &&
        has("hoist-notifier", "notify gitlab-status", { "hoist.event": "release.live", "hoist.release_id": releaseId })
      );
    };
    await w.otlp.waitFor(need, 15_000);
    const trace = w.otlp.spans.filter((s) => s.traceId === webhookSpan.traceId);
    expect(webhookSpan).toMatchObject({ service: "hoist-api", parentSpanId: "", attributes: { "hoist.app": APP } });
    // Every span of the push hangs off the webhook request's span: no second root.
    expect(trace.filter((s) => s.parentSpanId === "")).toEqual([webhookSpan]);
    const ids = new Set(trace.map((s) => s.spanId));
    for (const s of trace)
      if (s !== webhookSpan) expect(ids.has(s.parentSpanId), `${s.service}:${s.name} has a parent in the trace`).toBe(true);
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(["hoist-api", "hoist-builder", "hoist-deployer", "hoist-notifier"]));
    // Logs carry the trace id.
    const builderLine = await w.services.builder.waitForLog(/"msg":"build succeeded".*/, 1000);
    expect(w.services.builder.lines.some((l) => l.includes(first.buildId) && l.includes(`"trace_id":"${webhookSpan.traceId}"`))).toBe(true);
    expect(builderLine).toBeTruthy();
  }, 90_000);

  it("second push: the app answers with the new text and the first release's containers are gone", async () => {
    const second = await push(httpAppRepoFiles("hello from the second push"), "second: hello again");
    await w.slack.waitFor((r) => r.rawBody.includes(`${second.sha.slice(0, 8)} is live (release #2)`), 60_000);
    expect(Date.now() - second.t0).toBeLessThan(60_000);
    expect(await appText()).toBe("hello from the second push");
    const releases = (await w.api("GET", `/apps/${APP}/releases`)).body.releases;
    expect(releases.map((r: { number: number; status: string }) => [r.number, r.status])).toEqual([
      [2, "live"],
      [1, "retired"],
    ]);
    expect(await containers()).toEqual([{ release: releases[0].id, state: "running" }]);
    expect(await testRegistryTags(APP)).toEqual(expect.arrayContaining(["web.1", "web.2"]));
  }, 90_000);

  it("third push never gets healthy: the second release keeps answering, Slack got the failure with its reason", async () => {
    const third = await push(httpAppRepoFiles("this one never gets healthy", false), "third: no health check");
    const failed = await w.slack.waitFor((r) => r.rawBody.includes(`${third.sha.slice(0, 8)}: release failed (release #3)`), 60_000);
    const releases = (await w.api("GET", `/apps/${APP}/releases`)).body.releases;
    expect(releases.map((r: { number: number; status: string }) => [r.number, r.status])).toEqual([
      [3, "failed"],
      [2, "live"],
      [1, "retired"],
    ]);
    const reason = releases[0].reason as string;
    expect(reason).toMatch(/health/i);
    // Slack shows the reason (its first line, as mrkdwn-escaped text in the blocks).
    expect(failed.rawBody).toContain(
      reason.split("\n")[0]?.slice(0, 40).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"),
    );
    expect(await appText()).toBe("hello from the second push");
    expect(await containers()).toEqual([{ release: releases[1].id, state: "running" }]);
    expect(slackTexts().filter((t) => t.includes("is live"))).toHaveLength(2);
  }, 90_000);

  it("each worker serves Prometheus metrics on its health port: queue depth and age, stage durations, outcomes", async () => {
    const scrape = async (svc: "builder" | "deployer" | "notifier") => {
      const res = await fetch(`http://127.0.0.1:${w.healthPorts[svc]}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      return res.text();
    };
    const builder = await scrape("builder");
    expect(builder).toMatch(/^hoist_builds_total\{outcome="succeeded"\} 3$/m);
    for (const stage of ["clone", "build", "push"]) {
      expect(builder).toMatch(new RegExp(`^hoist_stage_duration_seconds_count\\{stage="${stage}",outcome="ok"\\} 3$`, "m"));
    }
    const deployer = await scrape("deployer");
    expect(deployer).toMatch(/^hoist_releases_total\{outcome="live"\} 2$/m);
    expect(deployer).toMatch(/^hoist_releases_total\{outcome="failed"\} 1$/m);
    expect(deployer).toMatch(/^hoist_stage_duration_seconds_count\{stage="deploy",outcome="ok"\} 3$/m);
    const notifier = await scrape("notifier");
    expect(notifier).toMatch(/^hoist_process_process_cpu_seconds_total /m);
    // Slack: three "live"/failure messages were sent; every other event was skipped for it.
    expect(notifier).toMatch(/^hoist_notifications_total\{destination="slack",outcome="sent"\} 3$/m);
    expect(notifier).toMatch(/^hoist_notifications_total\{destination="gitlab-status",outcome="sent"\} \d+$/m);
  });

  it("audit: every action of the flow once with its actor, each secret a worker opened, nothing secret", async () => {
    const res = await fetch(`${w.apiUrl}/v1/audit/export`, { headers: { authorization: `Bearer ${w.apiToken}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const entries = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { actor: string; actorKind: string; via: string; action: string; app?: string; target?: string });
    // People's and GitLab's writes, in order, each once: the API's with the bootstrap token; each
    // push's build by the pushing user GitLab names (the Push Hook's user_username).
    const writes = entries.filter((e) => e.via !== "worker");
    expect(writes.map((e) => `${e.action} ${e.actor} ${e.actorKind} ${e.via} ${e.app ?? "-"}`)).toEqual([
      "gitlab.connection.create bootstrap bootstrap api -",
      `app.create bootstrap bootstrap api ${APP}`,
      `app.gitlab.link bootstrap bootstrap api ${APP}`,
      `app.env.update bootstrap bootstrap api ${APP}`,
      `build.create test-user gitlab webhook ${APP}`,
      `build.create test-user gitlab webhook ${APP}`,
      `build.create test-user gitlab webhook ${APP}`,
    ]);
    expect(writes.filter((e) => e.action === "build.create").map((e) => e.target)).toEqual(pushed);
    // Each secret a worker opened, as that worker: per build the deploy key (clone) and the env
    // (masking the log); per deploy the env; the Slack URL and the token once (the notifier keeps
    // what it opened for HOIST_SECRET_CACHE_S, 60 s: the three pushes' messages use it from memory).
    const opened = (actor: string, target: string) =>
      entries.filter((e) => e.via === "worker" && e.actor === actor && e.target === target && e.app === APP).length;
    expect(entries.filter((e) => e.via === "worker").every((e) => e.action === "secret.open" && e.actorKind === "service")).toBe(true);
    expect(opened("builder", "deploy-key")).toBe(3);
    expect(opened("builder", "env")).toBe(3);
    expect(opened("deployer", "env")).toBeGreaterThanOrEqual(3);
    expect(w.slack.posted.length).toBeGreaterThan(1);
    expect(opened("notifier", "slack-webhook-url")).toBe(1);
    expect(opened("notifier", `gitlab-token:${connectionId}`)).toBe(1);
    const known = ["deploy-key", "env", "slack-webhook-url", `gitlab-token:${connectionId}`];
    expect(entries.filter((e) => e.via === "worker" && !known.includes(e.target ?? ""))).toEqual([]);
    // Nothing secret: no token, no Slack URL, no env value.
    const slackPath = new URL(slackUrl).pathname;
    for (const secret of [w.apiToken, w.gitlabToken, hook.token as string, slackPath, ENV_CANARY]) {
      expect(secret.length).toBeGreaterThan(8);
      expect(text).not.toContain(secret);
    }
  });
});

function isWebhookSpan(s: ReceivedSpan, buildId: string): boolean {
  return s.service === "hoist-api" && s.name === "POST /webhooks/gitlab/:hookId" && s.attributes["hoist.build_id"] === buildId;
}
