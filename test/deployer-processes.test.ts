import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDocker } from "../services/deployer/src/adapters/clients.js";
import { LABELS } from "../services/deployer/src/adapters/local-target.js";
import { DeployerHarness } from "../services/deployer/src/testing/harness.js";
import { freePort } from "../services/deployer/src/testing/ports.js";
import { TEST_AWS_CREDENTIALS } from "./support/aws/json-server.js";
import { removeLocalApp } from "./support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "./support/deploy/http-app.js";
import { startEcsServer } from "./support/ecs/server.js";
import { EcsState } from "./support/ecs/state.js";
import { type ServiceProcess, startService } from "./support/processes.js";

/** Two deployer processes (the built service, as `pnpm start` runs it) racing on one app, on the real podman API. */
const docker = createDocker();
const app = `race-${process.pid}`;
const tags: string[] = [];
const running: ServiceProcess[] = [];
let dir: string;
let h: DeployerHarness;

beforeAll(async () => {
  tags.push(await buildHttpAppImage(docker, builderTag(app, "web", 1), "race build 1"));
  tags.push(await buildHttpAppImage(docker, builderTag(app, "web", 2), "race build 2"));
}, 120_000);
afterAll(async () => {
  for (const t of tags)
    await docker
      .getImage(t)
      .remove({ force: true })
      .catch(() => {});
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop("SIGKILL")));
  await removeLocalApp(docker, app);
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves once `check` holds, re-checking as the deployers write (bounded). */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("deployer processes", () => {
  it("two deployer processes deploy two releases of one app one at a time; the newest ends live; SIGTERM exits 143", async () => {
    h = new DeployerHarness();
    dir = mkdtempSync(join(tmpdir(), "hoist-deployer-proc-"));
    writeFileSync(join(dir, "master.key"), h.masterKey.toString("base64"), { mode: 0o600 });
    const port = await freePort();
    await h.createApp(app, { kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 10 } } });
    const env = {
      REDIS_URL: process.env.REDIS_URL as string,
      DOCKER_HOST: process.env.DOCKER_HOST as string,
      HOIST_QUEUE_PREFIX: h.prefix,
      HOIST_DATA_DIR: dir,
      HOIST_MASTER_KEY_FILE: join(dir, "master.key"),
      HOIST_DEPLOY_LOCK_RETRY_MS: "100",
      HOIST_LOCAL_STOP_TIMEOUT_S: "1",
    };
    for (let i = 0; i < 2; i++) {
      const p = startService("deployer", { ...env, HOIST_SHUTDOWN_TIMEOUT_MS: "5000" });
      running.push(p);
      await p.waitForLog(/"msg":"ready"/);
    }
    const r1 = await h.createRelease(app, [{ service: "web", tag: tags[0]! }], { GREETING: "one" });
    const r2 = await h.createRelease(app, [{ service: "web", tag: tags[1]! }], { GREETING: "two" });
    await Promise.all([r1, r2].map((r) => h.queues.enqueue("deploy", { kind: "deploy", releaseId: r.id })));

    const final = ["live", "retired", "failed", "rolled_back"];
    const [s1, s2] = await until("both releases to finish", async () => {
      const both = await Promise.all([h.records.releases.require(r1.id), h.records.releases.require(r2.id)]);
      return both.every((r) => final.includes(r.status)) ? both : undefined;
    });
    expect(s2.status).toBe("live");
    expect([
      ["retired", undefined],
      ["failed", "superseded"],
    ]).toContainEqual([s1.status, s1.reason]);
    const res = await fetch(`http://127.0.0.1:${port}/env.txt`);
    expect((await res.text()).trim()).toBe("two");
    expect(
      (await docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${app}`] } })).map((c) => c.Labels[LABELS.release]),
    ).toEqual([r2.id]);
    const spans = [];
    for (const id of [r1.id, r2.id]) {
      const entries = await h.releaseLog.read(id);
      const started = entries.filter((e) => e.line.startsWith("deploy started"));
      expect(started.length).toBeLessThanOrEqual(1);
      if (started.length) spans.push({ from: started[0]!.id, to: entries.at(-1)!.id });
    }
    spans.sort((a, b) => (a.from < b.from ? -1 : 1));
    if (spans.length === 2) expect(spans[0]!.to < spans[1]!.from).toBe(true);

    const stopped = await Promise.all(running.splice(0).map((p) => p.stop("SIGTERM")));
    expect(stopped.map((s) => s.code)).toEqual([143, 143]);
  });
});

describe("deployer crash", () => {
  it("a deploy whose deployer process is killed mid-swap is taken over by another and converges once", async () => {
    h = new DeployerHarness();
    dir = mkdtempSync(join(tmpdir(), "hoist-deployer-crash-"));
    writeFileSync(join(dir, "master.key"), h.masterKey.toString("base64"), { mode: 0o600 });
    const port = await freePort();
    await h.createApp(app, { kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 30 } } });
    const slow = await buildHttpAppImage(docker, builderTag(app, "web", 3), "race build 3", "slow-start");
    tags.push(slow);
    const env = {
      REDIS_URL: process.env.REDIS_URL as string,
      DOCKER_HOST: process.env.DOCKER_HOST as string,
      HOIST_QUEUE_PREFIX: h.prefix,
      HOIST_DATA_DIR: dir,
      HOIST_MASTER_KEY_FILE: join(dir, "master.key"),
      HOIST_DEPLOY_LOCK_RETRY_MS: "100",
      HOIST_DEPLOY_LOCK_TTL_MS: "1500",
      HOIST_DEPLOY_STALLED_MS: "1500",
    };
    const first = startService("deployer", env);
    running.push(first);
    await first.waitForLog(/"msg":"ready"/);
    const r1 = await h.createRelease(app, [{ service: "web", tag: slow }], { GREETING: "survived" });
    await h.queues.enqueue("deploy", { kind: "deploy", releaseId: r1.id });
    // Kill it while the new container is starting (slow-start answers after 3 s).
    await until("the first deployer to start the container", async () =>
      (await h.logLines(r1.id)).some((l) => l.startsWith("started web")) ? true : undefined,
    );
    await first.stop("SIGKILL");
    running.splice(running.indexOf(first), 1);
    expect((await h.records.releases.require(r1.id)).status).toBe("deploying");

    const second = startService("deployer", env);
    running.push(second);
    const live = await until("the release to go live", async () => {
      const r = await h.records.releases.require(r1.id);
      return r.status === "deploying" ? undefined : r;
    });
    expect(live.status).toBe("live");
    expect((await (await fetch(`http://127.0.0.1:${port}/env.txt`)).text()).trim()).toBe("survived");
    const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${app}`] } });
    expect(containers.map((c) => [c.Labels[LABELS.release], c.State])).toEqual([[r1.id, "running"]]);
    const log = await h.logLines(r1.id);
    expect(log.filter((l) => l.startsWith("deploy started"))).toHaveLength(2);
    expect(log.some((l) => l.startsWith("removing container") && l.endsWith("left by an earlier attempt"))).toBe(true);
    expect(log.filter((l) => l.startsWith("live"))).toHaveLength(1);
    const notify = await h.notifyJobIds();
    expect(notify.filter((id) => id === `slack.release.live.${r1.id}`)).toHaveLength(1);
  });
});

describe("deployer process, ECS target", () => {
  it("reaches ECS at AWS_ENDPOINT_URL_ECS in AWS_REGION, as the SDK's standard environment says", async () => {
    h = new DeployerHarness();
    dir = mkdtempSync(join(tmpdir(), "hoist-deployer-ecs-"));
    writeFileSync(join(dir, "master.key"), h.masterKey.toString("base64"), { mode: 0o600 });
    // An eu-central-1 endpoint: it refuses requests signed for any other region.
    const ecs = await startEcsServer(new EcsState({ region: "eu-central-1" }));
    try {
      const td = ecs.state.register({ family: "web", containerDefinitions: [{ name: "web", image: "old/web:1" }] });
      ecs.state.addService("main", "web", String(td.taskDefinitionArn), { kind: "complete", afterMs: 100 });
      await h.createApp(app, { kind: "ecs", cluster: "main", service: "web" });
      const p = startService("deployer", {
        REDIS_URL: process.env.REDIS_URL as string,
        HOIST_QUEUE_PREFIX: h.prefix,
        HOIST_DATA_DIR: dir,
        HOIST_MASTER_KEY_FILE: join(dir, "master.key"),
        HOIST_ECS_POLL_MS: "50",
        AWS_REGION: "eu-central-1",
        AWS_ENDPOINT_URL_ECS: ecs.url,
        AWS_ACCESS_KEY_ID: TEST_AWS_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_AWS_CREDENTIALS.secretAccessKey,
      });
      running.push(p);
      await p.waitForLog(/"msg":"ready"/);
      const r = await h.createRelease(app, [{ service: "web", tag: "127.0.0.1:5000/web:web.2" }], { MODE: "prod" });
      await h.queues.enqueue("deploy", { kind: "deploy", releaseId: r.id });
      const done = await until("the ECS release to finish", async () => {
        const cur = await h.records.releases.require(r.id);
        return cur.status === "pending" || cur.status === "deploying" ? undefined : cur;
      });
      expect(done.status).toBe("live");
      expect(ecs.state.ops("RegisterTaskDefinition")).toEqual([
        {
          family: "web",
          containerDefinitions: [{ name: "web", image: "127.0.0.1:5000/web:web.2", environment: [{ name: "MODE", value: "prod" }] }],
        },
      ]);
      expect(ecs.state.services.get("main/web")?.taskDefinition).toBe("arn:aws:ecs:eu-central-1:123456789012:task-definition/web:2");
      // The AWS secret key reached the SDK, never the deployer's log.
      expect(p.lines.join("\n")).not.toContain(TEST_AWS_CREDENTIALS.secretAccessKey);
      expect(ecs.state.rejected).toEqual([]);
    } finally {
      await ecs.close();
    }
  });
});
