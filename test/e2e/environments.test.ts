import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Records } from "@hoist/shared";
import { testRedis } from "@hoist/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABELS } from "../../services/deployer/src/adapters/local-target.js";
import { freePort } from "../../services/deployer/src/testing/ports.js";
import { removeLocalApp } from "../support/deploy/cleanup.js";
import { deliverHook, pushPayload } from "../support/gitlab/deliver.js";
import { statusHistory } from "../support/gitlab/statuses.js";
import { dockerFromEnv } from "../support/images/base-images.js";
import { repoRoot } from "../support/processes.js";
import { testRegistryTags } from "../support/registry/auth.js";
import { type E2eWorld, startE2eWorld } from "./world.js";

/**
 * Staging to production, end to end: the four services as processes, one push to a linked app
 * whose staging environment deploys automatically and whose production does not; staging goes live,
 * production gets nothing; `hoist promote <app> staging production` puts the same images (same
 * digests, nothing rebuilt) live in production with production's own variables.
 */
const APP = `stage-${process.pid}`;
const docker = dockerFromEnv();

let w: E2eWorld;
let prodPort: number;
let stagingPort: number;
let configDir: string;

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function get(port: number, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
  return `${res.status} ${(await res.text()).trim()}`;
}

const containersOf = async (unit: string) =>
  (await docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${unit}`] } })).map((c) => c.Labels[LABELS.release]);

/** The test's HTTP app (busybox httpd on $PORT), also serving its $GREETING variable at /env.txt. */
function appFiles(text: string): Record<string, string> {
  return {
    "docker-compose.yml": "services:\n  web:\n    build: .\n",
    Dockerfile: [
      "FROM busybox",
      "COPY www /www",
      // Written at start by the non-root user the local target runs it as.
      "RUN chmod 0777 /www",
      `CMD ["sh", "-c", "echo \\"$GREETING\\" > /www/env.txt; trap 'exit 0' TERM; httpd -f -p $PORT -h /www & while true; do wait; done"]`,
      "",
    ].join("\n"),
    "www/index.html": `${text}\n`,
    "www/healthz": "ok\n",
  };
}

/** The built `hoist` as a user runs it, logged in through HOIST_URL and HOIST_TOKEN. */
function hoist(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(repoRoot, "packages", "cli", "dist", "main.js"), ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: configDir, HOIST_URL: w.apiUrl, HOIST_TOKEN: w.apiToken },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

beforeAll(async () => {
  w = await startE2eWorld();
  prodPort = await freePort();
  stagingPort = await freePort();
  configDir = mkdtempSync(join(tmpdir(), "hoist-envs-cli-"));
}, 120_000);

afterAll(async () => {
  await removeLocalApp(docker, APP);
  await removeLocalApp(docker, `${APP}@staging`);
  await w?.close();
  rmSync(configDir, { recursive: true, force: true });
}, 60_000);

describe("staging to production", () => {
  it("one push: staging goes live by itself, production gets nothing; promote: production live on the same digests with its own variables", async () => {
    const web = (port: number) => ({ kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 5 } } });
    const conn = await w.api("POST", "/gitlab/connections", { url: w.gitlab.url, token: w.gitlabToken });
    expect(conn.status, JSON.stringify(conn.body)).toBe(201);
    const created = await w.api("POST", "/apps", {
      name: APP,
      branch: "main",
      repo: { sshUrl: "git@placeholder:acme/hello.git" },
      target: web(prodPort),
      env: { GREETING: "production vars" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const linked = await w.api("POST", `/apps/${APP}/gitlab/link`, { connection: conn.body.connection.id, projectId: w.project.id });
    expect(linked.status, JSON.stringify(linked.body)).toBe(200);
    // Production waits for a promotion; staging follows main.
    expect((await w.api("PATCH", `/apps/${APP}/environments/production`, { auto: false })).status).toBe(200);
    const staging = await w.api("POST", `/apps/${APP}/environments`, {
      name: "staging",
      target: web(stagingPort),
      env: { GREETING: "staging vars" },
      auto: true,
    });
    expect(staging.status, JSON.stringify(staging.body)).toBe(201);

    const hook = w.gitlab.state.hooks[0];
    if (!hook) throw new Error("no hook");
    const sha = w.repo.commit(appFiles("hello from main"), "main: hello");
    const res = await deliverHook(
      hook,
      "Push Hook",
      pushPayload({ project: w.project, repo: w.repo.barePath, ref: "refs/heads/main", before: "0".repeat(40), after: sha }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const buildId = (res.body as { buildId: string }).buildId;

    const stagingLive = await until(
      "staging to go live",
      async () => {
        const env = (await w.api("GET", `/apps/${APP}/environments/staging`)).body?.environment;
        const build = (await w.api("GET", `/builds/${buildId}`)).body;
        if (build?.status === "failed") throw new Error(`the build failed: ${build.reason}`);
        return env?.live ? env.live : undefined;
      },
      90_000,
    );
    expect(stagingLive).toMatchObject({ number: 1, buildId });
    expect(await get(stagingPort, "/")).toBe("200 hello from main");
    expect(await get(stagingPort, "/env.txt")).toBe("200 staging vars");

    // Production got nothing: no release, nothing live, nothing listening on its port.
    expect((await w.api("GET", `/apps/${APP}/releases`)).body.releases).toEqual([]);
    expect((await w.api("GET", `/apps/${APP}/environments/production`)).body.environment.live).toBeUndefined();
    await expect(get(prodPort, "/")).rejects.toThrow();
    expect(await containersOf(APP)).toEqual([]);

    const envs = await hoist(["envs", APP]);
    expect(envs.code, envs.stderr).toBe(0);
    expect(envs.stdout).toMatch(new RegExp(`staging\\s+web:${stagingPort}\\s+true\\s+0\\s+-\\s+#1 ${stagingLive.id}`));
    expect(envs.stdout).toMatch(new RegExp(`production\\s+web:${prodPort}\\s+false\\s+0\\s+-\\s+-`));

    const promoted = await hoist(["promote", APP, "staging", "production", "--wait"]);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toContain(`${APP} is live in production: release #1`);

    expect(await get(prodPort, "/")).toBe("200 hello from main");
    expect(await get(prodPort, "/env.txt")).toBe("200 production vars");
    expect(await get(stagingPort, "/env.txt")).toBe("200 staging vars");
    const prodReleases = (await w.api("GET", `/apps/${APP}/releases`)).body.releases;
    expect(prodReleases).toEqual([expect.objectContaining({ environment: "production", number: 1, buildId, status: "live" })]);

    // The same images, digests and all: nothing was built again.
    const redis = testRedis();
    try {
      const records = new Records(redis, w.prefix);
      const [prod, stage] = await Promise.all([records.releases.require(prodReleases[0].id), records.releases.require(stagingLive.id)]);
      expect(prod.images).toEqual(stage.images);
      expect(prod.images[0]?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(prod.sourceReleaseId).toBe(stage.id);
    } finally {
      await redis.quit();
    }
    expect(await testRegistryTags(APP)).toEqual(["web.1"]);
    expect((await w.api("GET", `/apps/${APP}/builds`)).body.builds).toHaveLength(1);
    expect(await containersOf(APP)).toEqual([prodReleases[0].id]);
    expect(await containersOf(`${APP}@staging`)).toEqual([stagingLive.id]);

    // GitLab's Environments page: one deployment per environment, of the pushed commit, both success.
    const deployments = await until(
      "two successful GitLab deployments",
      async () => {
        const done = w.gitlab.state.deployments.filter((d) => d.status === "success");
        return done.length === 2 ? done : undefined;
      },
      15_000,
    );
    const envName = (id: number) => w.gitlab.state.environments.find((e) => e.id === id)?.name;
    expect(deployments.map((d) => [envName(d.environment_id), d.sha, d.ref, d.tag]).sort()).toEqual([
      ["production", sha, "main", false],
      ["staging", sha, "main", false],
    ]);
    expect(w.gitlab.state.deployments).toHaveLength(2);
    // And the commit carries one deploy status per environment.
    const last = (name: string) =>
      statusHistory(w.gitlab.state)
        .filter((x) => x.sha === sha && x.name === name)
        .at(-1)?.status;
    expect([last("hoist/deploy:staging"), last("hoist/deploy:production")]).toEqual(["success", "success"]);
  }, 180_000);
});
