import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobQueues, LocalSecretBox, queueNames, Records, readLog, recordKeys, releaseLogKey, secretContexts } from "@hoist/shared";
import { deletePrefix, testRedis } from "@hoist/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliver } from "../ingress/webhook-helpers.js";
import { removeLocalApp } from "../support/deploy/cleanup.js";
import { httpAppRepoFiles } from "../support/deploy/http-app.js";
import { authorizeKey, createRepo, type TestRepo } from "../support/git/index.js";
import { deployKeyRoutes } from "../support/gitlab/deploy-keys.js";
import { deploymentRoutes } from "../support/gitlab/deployments.js";
import { freezePeriodRoutes } from "../support/gitlab/freeze-periods.js";
import { hookRoutes } from "../support/gitlab/hooks.js";
import { projectRoutes } from "../support/gitlab/projects.js";
import { type GitlabTestServer, startGitlabServer } from "../support/gitlab/server.js";
import type { GitlabUser } from "../support/gitlab/state.js";
import { statusHistory, statusRoutes } from "../support/gitlab/statuses.js";
import { userRoutes } from "../support/gitlab/users.js";
import { dockerFromEnv, ensureBaseImages } from "../support/images/base-images.js";
import { type ServiceProcess, startService } from "../support/processes.js";
import { SlackReceiver } from "../support/receivers/slack.js";
import { freePort } from "./private-redis.js";
import { untilSettled } from "./support.js";

const API_TOKEN = `chaos-api-${randomBytes(16).toString("hex")}`;
const GITLAB_CANARY = `glpat-CANARY${randomBytes(8).toString("hex")}`;
const REGISTRY_CANARY = `regpw-CANARY${randomBytes(8).toString("hex")}`;
/** Its own name: the deployer's containers on the shared podman are found by it. */
const APP = `secret-${process.pid}`;
const docker = dockerFromEnv();

/** Scenario 7: canary secrets through a whole pipeline (API, builder, notifier processes), then searched for everywhere. */
describe("chaos 7: secrets never leave their sealed form", () => {
  const prefix = `chaos-secrets-${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(join(tmpdir(), "hoist-chaos-secrets-"));
  const workDir = mkdtempSync(join(tmpdir(), "hoist-chaos-secrets-work-"));
  const redis = testRedis();
  const procs: ServiceProcess[] = [];
  let gl: GitlabTestServer;
  let slack: SlackReceiver;
  let repo: TestRepo;
  let apiUrl: string;
  const answers: string[] = [];

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${apiUrl}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${API_TOKEN}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    answers.push(text);
    // biome-ignore lint/suspicious/noExplicitAny: the test reads fields of JSON answers
    return { status: res.status, body: JSON.parse(text) as any };
  };
  /** Polls `GET path` until its status is one of `ends`; every answer on the way is searched too. */
  const settledAt = (path: string, ends: string[], ms: number) =>
    untilSettled(
      () => api("GET", path),
      (r) => ends.includes(r.body.status),
      ms,
      250,
    );

  beforeAll(async () => {
    await ensureBaseImages();
    slack = await new SlackReceiver().start();
    gl = await startGitlabServer([
      userRoutes,
      projectRoutes,
      hookRoutes,
      deployKeyRoutes,
      statusRoutes,
      deploymentRoutes,
      freezePeriodRoutes,
    ]);
    gl.state.addUser("hoist-bot", GITLAB_CANARY);
    // Hoist's hook URL is on 127.0.0.1: the admin setting GitLab needs for that is turned on.
    gl.state.settings.allowLocalRequestsFromWebHooksAndServices = true;
    repo = createRepo();
  }, 60_000);
  afterAll(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    await removeLocalApp(docker, APP);
    await gl?.close();
    await slack?.close();
    repo?.remove();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  it("GitLab token, deploy key, Slack URL, registry password and webhook token: zero hits in logs, answers, build and release logs, jobs and a Redis dump", async () => {
    const common: Record<string, string> = {
      REDIS_URL: process.env.REDIS_URL as string,
      HOIST_QUEUE_PREFIX: prefix,
      HOIST_DATA_DIR: dataDir,
    };
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    const apiProc = startService("api", {
      ...common,
      HOIST_PORT: String(port),
      HOIST_HOST: "127.0.0.1",
      HOIST_API_TOKEN: API_TOKEN,
      HOIST_PUBLIC_URL: apiUrl,
    });
    procs.push(apiProc);
    // Generous: a process start on a 2-core machine shared with other work can take many seconds.
    await apiProc.waitForLog(/"msg":"ready"/, 60_000);

    const slackUrl = slack.webhookUrl();
    const slackCanary = slackUrl.split("/").at(-1) as string;
    const project = gl.state.addProject(
      { path_with_namespace: "acme/secret", default_branch: "main", ssh_url_to_repo: repo.sshUrl, bareRepoPath: repo.barePath },
      gl.url,
    );
    gl.state.addMember(project, gl.state.users[0] as GitlabUser, "maintainer");
    const webPort = await freePort();
    const created = await api("POST", "/apps", {
      name: APP,
      repo: { sshUrl: repo.sshUrl },
      slackWebhookUrl: slackUrl,
      target: { kind: "local", services: { web: { port: webPort, healthPath: "/healthz", healthTimeout: 30 } } },
    });
    expect(created.status).toBe(201);
    authorizeKey(created.body.deployKey.publicKey, repo);

    const conn = await api("POST", "/gitlab/connections", { url: gl.url, token: GITLAB_CANARY });
    expect(conn.status).toBe(201);
    const link = await api("POST", `/apps/${APP}/gitlab/link`, { connection: conn.body.connection.id, projectId: project.id });
    expect(link.status).toBe(200);
    // Linking gives GitLab the hook (and a token of its own): deliver as that hook would.
    const glHook = gl.state.hooks.at(-1);
    const webhookToken = glHook?.token as string;
    expect(webhookToken).toBeDefined();
    const hook = `${apiUrl}${new URL(glHook?.url as string).pathname}`;

    const env: Record<string, string> = {
      ...common,
      DOCKER_HOST: process.env.DOCKER_HOST as string,
      HOIST_REGISTRY: process.env.HOIST_TEST_REGISTRY as string,
      HOIST_REGISTRY_INSECURE: "true",
      HOIST_REGISTRY_USERNAME: "hoist",
      HOIST_REGISTRY_PASSWORD: REGISTRY_CANARY,
      HOIST_WORK_DIR: workDir,
      HOIST_LOG_LEVEL: "debug",
    };
    for (const k of ["CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"])
      if (process.env[k]) env[k] = process.env[k] as string;
    const builder = startService("builder", env);
    const notifier = startService("notifier", { ...common, HOIST_PUBLIC_URL: apiUrl, HOIST_LOG_LEVEL: "debug" });
    // The deployer rolls the good build out, so its release log (a Redis stream the API does not serve) is written.
    const deployer = startService("deployer", {
      ...common,
      DOCKER_HOST: process.env.DOCKER_HOST as string,
      HOIST_LOCAL_STOP_TIMEOUT_S: "1",
      HOIST_LOG_LEVEL: "debug",
    });
    procs.push(builder, notifier, deployer);
    for (const p of [builder, notifier, deployer]) await p.waitForLog(/"msg":"ready"/, 60_000);

    const sha = repo.commit(httpAppRepoFiles("secret app"), "secrets run");
    const push = {
      object_kind: "push",
      before: "0".repeat(40),
      after: sha,
      ref: "refs/heads/main",
      checkout_sha: sha,
      project_id: project.id,
    };
    const accepted = await deliver(hook, { event: "Push Hook", token: webhookToken, body: { ...push, before: sha.replace(/^./, "f") } });
    expect(accepted.status).toBe(202);
    const buildId = accepted.body.buildId as string;
    const build = await settledAt(`/builds/${buildId}`, ["succeeded", "failed"], 120_000);
    expect(build.body.status).toBe("succeeded");
    const releaseId = build.body.releaseId as string;
    expect(releaseId).toEqual(expect.any(String));
    const release = await settledAt(`/releases/${releaseId}`, ["live", "failed"], 60_000);
    expect(release.body.status).toBe("live");
    // Slack hears of failures and of releases going live: a second push that fails to build.
    const bad = repo.commit({ Dockerfile: "FROM busybox\nRUN false\n" }, "broken");
    const second = await deliver(hook, {
      event: "Push Hook",
      token: webhookToken,
      body: { ...push, before: sha, after: bad, checkout_sha: bad },
    });
    expect(second.status).toBe(202);
    const failedId = second.body.buildId as string;
    await settledAt(`/builds/${failedId}`, ["succeeded", "failed"], 120_000);
    // Slack hears of the release going live and of the failed build.
    await untilSettled(
      async () => slack.posted.length,
      (n) => n >= 2,
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${notifier.lines.slice(-20).join("\n")}`);
    });
    await untilSettled(
      async () => statusHistory(gl.state).map((s) => s.status),
      (s) => s.includes("success"),
      30_000,
    );

    // Every answer the API gives about the app, its builds and its release, the build logs included.
    for (const path of [
      "/apps",
      `/apps/${APP}`,
      `/apps/${APP}/builds`,
      `/builds/${buildId}`,
      `/builds/${failedId}`,
      `/apps/${APP}/releases`,
      `/releases/${releaseId}`,
      "/gitlab/connections",
    ]) {
      expect((await api("GET", path)).status, path).toBe(200);
    }
    const buildLogLines: number[] = [];
    for (const id of [buildId, failedId]) {
      const json = await api("GET", `/builds/${id}/logs`);
      expect(json.status).toBe(200);
      buildLogLines.push(json.body.lines.length);
      // The same log as server-sent events: the build is over, so the stream ends by itself.
      const sse = await fetch(`${apiUrl}/v1/builds/${id}/logs?follow=1`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
        signal: AbortSignal.timeout(30_000),
      });
      expect(sse.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const events = await sse.text();
      answers.push(events);
      expect(events).toMatch(/event: end\n/);
      expect(events.match(/^event: line$/gm)?.length).toBe(json.body.lines.length);
    }
    for (const n of buildLogLines) expect(n).toBeGreaterThan(3);
    // The deployer's release log: a Redis stream (releaseLogKey) no API route serves; read as stored.
    const releaseLog = (await readLog(redis, releaseLogKey(prefix, releaseId))).map((e) => JSON.stringify(e));
    expect(releaseLog.join("\n")).toMatch(/live/);
    // Every job payload, result and failure of every queue.
    const queues = new JobQueues(redis, prefix);
    const jobsText: string[] = [];
    for (const q of queueNames) {
      for (const j of await queues.queue(q).getJobs(["waiting", "active", "delayed", "prioritized", "completed", "failed"])) {
        jobsText.push(JSON.stringify({ data: j.data, returnvalue: j.returnvalue, failedReason: j.failedReason, stacktrace: j.stacktrace }));
      }
    }
    await queues.close();
    expect(jobsText.length).toBeGreaterThan(2);
    // The audit log, as the API exports it and as stored: people's writes and every secret the
    // workers opened (the deploy key, the Slack URL, the GitLab token), by name, never by value.
    const exported = await fetch(`${apiUrl}/v1/audit/export?app=${APP}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(exported.status).toBe(200);
    const auditLines = (await exported.text()).trim().split("\n");
    const auditEntries = auditLines.map((l) => JSON.parse(l) as { actor: string; via: string; action: string; target?: string });
    const openings = new Set(auditEntries.filter((e) => e.via === "worker").map((e) => `${e.actor} ${e.action} ${e.target}`));
    expect([...openings]).toEqual(expect.arrayContaining(["builder secret.open deploy-key", "notifier secret.open slack-webhook-url"]));
    expect([...openings].some((o) => o.startsWith("notifier secret.open gitlab-token:"))).toBe(true);
    const auditStream = JSON.stringify(await redis.xrange(recordKeys(prefix).audit, "-", "+"));
    // A full dump: every key of the Redis, by value and by DUMP.
    const dump: Buffer[] = [];
    let keys = 0;
    let cursor = "0";
    do {
      const [next, batch] = await redis.scan(cursor, "COUNT", 1000);
      cursor = next;
      for (const key of batch) {
        keys++;
        const d = await redis.dumpBuffer(key);
        if (d) dump.push(d);
        const type = await redis.type(key);
        if (type === "string") dump.push((await redis.getBuffer(key)) ?? Buffer.alloc(0));
        else if (type === "hash") dump.push(Buffer.from(JSON.stringify(await redis.hgetall(key))));
        else if (type === "list") dump.push(Buffer.from(JSON.stringify(await redis.lrange(key, 0, -1))));
        else if (type === "set") dump.push(Buffer.from(JSON.stringify(await redis.smembers(key))));
        else if (type === "zset") dump.push(Buffer.from(JSON.stringify(await redis.zrange(key, 0, -1))));
        else if (type === "stream") dump.push(Buffer.from(JSON.stringify(await redis.xrange(key, "-", "+"))));
      }
    } while (cursor !== "0");

    // The deploy key's private half as the builder used it: opened with the master key, a line of its body is the canary.
    const records = new Records(redis, prefix);
    const app = await records.apps.require(APP);
    const box = new LocalSecretBox(Buffer.from(readFileSync(join(dataDir, "master.key"), "utf8").trim(), "base64"));
    const privateKey = (await box.open(app.deployKey?.privateKey as never, secretContexts.deployKey(APP))).toString();
    const keyLine = privateKey.split("\n").find((l) => l.length > 40 && !l.startsWith("-----")) as string;
    expect(keyLine).toBeDefined();

    const canaries = {
      gitlabToken: GITLAB_CANARY,
      deployKey: keyLine,
      slackUrl: slackCanary,
      registryPassword: REGISTRY_CANARY,
      webhookToken,
    };
    const logs = procs.flatMap((p) => p.lines);
    const createAnswer = answers[0] as string;
    const haystacks = {
      logLines: logs.join("\n"),
      // The create answer shows the webhook token once, by design; every other answer counts.
      apiAnswers: answers.filter((a) => a !== createAnswer).join("\n"),
      jobs: jobsText.join("\n"),
      releaseLog: releaseLog.join("\n"),
      auditLog: `${auditLines.join("\n")}\n${auditStream}`,
      redisDump: Buffer.concat(dump).toString("latin1"),
    };
    const hits: string[] = [];
    for (const [name, value] of Object.entries(canaries)) {
      for (const [where, text] of Object.entries(haystacks)) {
        for (const form of [value, Buffer.from(value).toString("base64"), encodeURIComponent(value)])
          if (text.includes(form)) hits.push(`${name} in ${where}`);
      }
    }
    console.log(
      `chaos 7 secrets: 5 canaries searched in ${logs.length} log lines, ${answers.length - 1} API answers (build logs of ${buildLogLines.join(" and ")} lines, as JSON and as events), ` +
        `${releaseLog.length} release log entries, ${auditLines.length} audit log entries, ${jobsText.length} job records, ` +
        `${keys} Redis keys (${Math.round(haystacks.redisDump.length / 1024)} kB of DUMP and values): ${hits.length} hits${hits.length ? ` (${hits.join(", ")})` : ""}; ` +
        `Slack got ${slack.posted.length} messages, GitLab ${statusHistory(gl.state).length} statuses`,
    );
    // The canaries really travelled: Slack was reached at its secret URL and GitLab with the token.
    expect(slack.posted.length).toBeGreaterThan(0);
    expect(hits).toEqual([]);
  }, 240_000);
});
