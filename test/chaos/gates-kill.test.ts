import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenStore } from "../../services/api/src/auth/token-store.js";
import { createDocker } from "../../services/deployer/src/adapters/clients.js";
import { DeployerHarness } from "../../services/deployer/src/testing/harness.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { removeLocalApp } from "../support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../support/deploy/http-app.js";
import { repoRoot, type ServiceProcess, startService } from "../support/processes.js";
import { freePort } from "./private-redis.js";
import { untilSettled } from "./support.js";

const docker = createDocker();
const app = `chaos-gates-${process.pid}`;
const clocked = resolve(repoRoot, "test", "support", "deploy", "clocked-deployer.mjs");

/** Chaos: a deployer process killed with kill -9 while a release awaits approval, or is frozen, loses nothing. */
describe("chaos: deployer killed while a release waits at its gates", () => {
  const h = new DeployerHarness();
  const dir = mkdtempSync(join(tmpdir(), "hoist-chaos-gates-"));
  const running: ServiceProcess[] = [];
  let api: ApiHarness;
  let tag: string;
  let adaToken: string;

  beforeAll(async () => {
    writeFileSync(join(dir, "master.key"), h.masterKey.toString("base64"), { mode: 0o600 });
    tag = await buildHttpAppImage(docker, builderTag(app, "web", 1), "chaos gates");
    await h.createApp(app, { kind: "local", services: { web: { port: await freePort() } } });
    api = await startApi({ prefix: h.prefix, secrets: h.secrets });
    await h.redis.hset(h.records.keys.person("201"), { id: "201", username: "ada" });
    await h.redis.hset(h.records.keys.grants, `201:${app}`, "maintainer");
    adaToken = (await new TokenStore(h.redis, h.prefix).create({ name: "ada", role: "maintainer", owner: "user:201" })).token;
  }, 120_000);
  afterAll(async () => {
    for (const p of running) await p.stop("SIGKILL");
    await api?.close();
    await removeLocalApp(docker, app);
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {});
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const deployer = async (offsetMs = 0) => {
    const p = startService(
      "deployer",
      {
        REDIS_URL: process.env.REDIS_URL as string,
        DOCKER_HOST: process.env.DOCKER_HOST as string,
        HOIST_QUEUE_PREFIX: h.prefix,
        HOIST_DATA_DIR: dir,
        HOIST_MASTER_KEY_FILE: join(dir, "master.key"),
        HOIST_DEPLOY_LOCK_TTL_MS: "1500",
        HOIST_DEPLOY_STALLED_MS: "1500",
        HOIST_LOCAL_STOP_TIMEOUT_S: "1",
        GATES_CLOCK_OFFSET_MS: String(offsetMs),
      },
      { script: clocked },
    );
    running.push(p);
    await p.waitForLog(/"msg":"ready"/, 60_000);
    return p;
  };
  const release = async () => {
    const r = await h.createRelease(app, [{ service: "web", tag }], { GREETING: "hi" });
    await h.queues.enqueue("deploy", { kind: "deploy", releaseId: r.id });
    return r;
  };
  const status = (id: string, want: string, timeoutMs = 60_000) =>
    untilSettled(
      () => h.records.releases.require(id),
      (r) => r.status === want || r.status === "failed",
      timeoutMs,
      25,
    );

  it("awaiting approval: kill -9, approve while no deployer runs, a new deployer deploys it", async () => {
    expect((await api.api("PATCH", `/apps/${app}/environments/production`, { requiredApprovals: 1 })).status).toBe(200);
    const p1 = await deployer();
    const r = await release();
    expect((await status(r.id, "awaiting_approval")).status).toBe("awaiting_approval");
    // Its job is done (nothing waits in the queue for people): only the approval can deploy it now.
    await untilSettled(
      () => h.queues.queue("deploy").getJobCounts("active", "waiting", "delayed", "prioritized"),
      (c) => Object.values(c).every((n) => n === 0),
      30_000,
      25,
    );
    await p1.stop("SIGKILL");
    const res = await fetch(`${api.url}/v1/apps/${app}/environments/production/releases/${r.id}/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${adaToken}` },
    });
    expect(res.status).toBe(200);
    await deployer();
    const live = await status(r.id, "live");
    expect(live).toMatchObject({ status: "live", approvals: [{ by: "user:201", name: "ada" }] });
    // The log's "live" line follows the status change in its own write: wait for it, then count it.
    const lines = await untilSettled(
      () => h.logLines(r.id),
      (ls) => ls.some((l) => l.startsWith("live")),
      10_000,
      25,
    );
    expect(lines.filter((l) => l.startsWith("live"))).toHaveLength(1);
    // The next scenario's deployers read another clock: none of these may take its jobs.
    for (const p of running.splice(0)) await p.stop("SIGKILL");
    expect((await api.api("PATCH", `/apps/${app}/environments/production`, { requiredApprovals: 0 })).status).toBe(200);
  }, 180_000);

  it("frozen: kill -9 right after it froze; the next deployer deploys it when the freeze ends, never before", async () => {
    expect(
      (
        await api.api("PATCH", `/apps/${app}/environments/production`, {
          requiredApprovals: 0,
          freezes: [{ cron: "0 17 * * 5", duration: "62h", timezone: "UTC" }],
        })
      ).status,
    ).toBe(200);
    // The deployers' clock reads 20 s before the freeze ends (Monday 07:00 UTC): room for a process start.
    const offset = Date.parse("2026-12-07T06:59:40Z") - Date.now();
    const p1 = await deployer(offset);
    const r = await release();
    expect(await status(r.id, "frozen")).toMatchObject({ status: "frozen", frozenUntil: "2026-12-07T07:00:00.000Z" });
    await p1.stop("SIGKILL");
    await deployer(offset);
    const closes = Date.parse("2026-12-07T07:00:00Z") - offset;
    const live = await status(r.id, "live", 90_000);
    expect(live.status).toBe("live");
    const lateness = Date.parse(live.deployingAt as string) - closes;
    console.log(`chaos gates: frozen release deployed ${lateness} ms after the freeze closed (its deployer killed meanwhile)`);
    expect(lateness).toBeGreaterThanOrEqual(-50);
    expect(lateness).toBeLessThanOrEqual(1000);
  }, 180_000);
});
