import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WORKER_PURPOSES } from "@hoist/shared";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it, onTestFailed } from "vitest";
import { authorizeKey, createRepo } from "../support/git/index.js";
import { freePort } from "../support/net.js";
import { startService } from "../support/processes.js";
import { alive, bareEnv, httpJson, parseHealthPorts, type Stack, startStack } from "./stack.js";

const STARTUP_MS = 600_000; // a cold `turbo run build` on a loaded 2-core machine

/** A PATH like this one but without the commands in `hidden` (as on a machine where they are not installed). */
function pathWithout(hidden: string[], into: string): string {
  mkdirSync(into, { recursive: true });
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (!dir || !existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (hidden.includes(name) || existsSync(join(into, name))) continue;
      symlinkSync(join(dir, name), join(into, name));
    }
  }
  return into;
}

function holdPort(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(port, "0.0.0.0", () => resolve(s));
    s.on("error", reject);
  });
}

describe("pnpm start", () => {
  const dirs: string[] = [];
  const tmp = (label: string) => {
    const d = mkdtempSync(join(tmpdir(), `hoist-start-${label}-`));
    dirs.push(d);
    return d;
  };
  let stack: Stack | undefined;
  const showOutputOnFailure = () => {
    const shown = stack;
    onTestFailed(() => console.log(`--- pnpm start said:\n${shown?.lines.slice(-150).join("\n")}`));
  };
  afterEach(async () => {
    if (stack && stack.child.exitCode === null) {
      stack.interrupt();
      await stack.exited;
    }
    stack = undefined;
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("a taken HOIST_PORT: one line naming the variable, exit 78, nothing started", async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    try {
      stack = startStack(bareEnv({ HOIST_DATA_DIR: tmp("port"), HOIST_PORT: String(port) }));
      const { code } = await stack.exited;
      const own = stack.lines.filter((l) => l.startsWith("start    |"));
      expect(code).toBe(78);
      expect(own).toEqual([
        `start    | port ${port} on 0.0.0.0 is taken by another process: set HOIST_PORT to a free port (or stop what holds it)`,
      ]);
      expect(stack.lines.join("\n")).not.toMatch(/EADDRINUSE|^\s+at /m);
    } finally {
      holder.close();
    }
  }, 60_000);

  it("the API itself, on a port taken after the check: one line on stderr, exit 78", async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    try {
      const api = startService("api", {
        REDIS_URL: process.env.REDIS_URL as string,
        HOIST_PORT: String(port),
        HOIST_API_TOKEN: "t".repeat(32),
        HOIST_DATA_DIR: tmp("api-port"),
      });
      const { code } = await api.exited;
      expect(code).toBe(78);
      const plain = api.lines.filter((l) => !l.startsWith("{"));
      expect(plain).toEqual([`port ${port} on 0.0.0.0 is taken by another process: set HOIST_PORT to a free port (or stop what holds it)`]);
    } finally {
      holder.close();
    }
  }, 60_000);

  it(
    "Ctrl-C reaches each service once: each shuts down gracefully, and nothing is left running",
    async () => {
      const port = await freePort();
      const env = bareEnv({
        HOIST_DATA_DIR: tmp("sigint"),
        HOIST_PORT: String(port),
        HOIST_QUEUE_PREFIX: `sigint-${process.pid}-${Date.now()}`,
        REDIS_URL: process.env.REDIS_URL as string,
        DOCKER_HOST: process.env.DOCKER_HOST as string,
        HOIST_REGISTRY: process.env.HOIST_TEST_REGISTRY as string,
        HOIST_REGISTRY_INSECURE: "true",
      });
      for (const k of ["CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"])
        if (process.env[k]) env[k] = process.env[k] as string;
      stack = startStack(env);
      showOutputOnFailure();
      await stack.waitFor(/Ctrl-C stops everything/, STARTUP_MS);
      const pids = stack.pids();
      expect([...pids.keys()].sort()).toEqual(["api", "builder", "deployer", "notifier"]);
      stack.interrupt();
      // pnpm itself dies of the terminal's SIGINT, as in a terminal; pnpm start finishes stopping and says so.
      const { code, signal } = await stack.exited;
      expect({ code, signal }).toEqual({ code: null, signal: "SIGINT" });
      expect(stack.lines.filter((l) => l.startsWith("start    |")).at(-1)).toBe("start    | stopped");
      for (const name of pids.keys()) {
        const shutdowns = stack.of(name).filter((l) => /"msg":"shutting down"/.test(l));
        expect({ name, shutdowns: shutdowns.length }).toEqual({ name, shutdowns: 1 });
        expect(stack.of(name).join("\n")).not.toMatch(/second signal/);
        expect(stack.lines).toContain(`start    | ${name} exited (130)`);
      }
      for (const [name, pid] of pids) expect({ name, alive: alive(pid) }).toEqual({ name, alive: false });
    },
    STARTUP_MS + 60_000,
  );

  it(
    "no Docker API and no podman: the API and notifier run, the builder's /healthz names the missing socket, a build fails with the reason",
    async () => {
      const dir = tmp("nodocker");
      const missing = join(dir, "missing", "docker.sock");
      const port = await freePort();
      stack = startStack(
        bareEnv({
          PATH: pathWithout(["podman", "docker"], join(dir, "bin")),
          HOIST_DATA_DIR: join(dir, "data"),
          HOIST_PORT: String(port),
          DOCKER_HOST: `unix://${missing}`,
        }),
      );
      showOutputOnFailure();
      await stack.waitFor(/Ctrl-C stops everything/, STARTUP_MS);
      // Previews' host names on a loopback port of plain HTTP (8000 unless taken), not :443 with TLS.
      expect(
        stack.lines.some((l) =>
          /^start {4}\| {3}apps' host names \(previews: http:\/\/mr-<iid>\.<app>\.localhost:\d+\) served by Caddy on 127\.0\.0\.1:\d+$/.test(
            l,
          ),
        ),
      ).toBe(true);
      expect(stack.lines).toContain(
        `start    | DOCKER_HOST=unix://${missing} does not answer (connect ENOENT ${missing}): builds and deploys fail until it does`,
      );
      // Its own Redis: a user per service, passwords kept 0600, no way in without one.
      const redisUrl = /Redis at (redis:\/\/\S+)/.exec(stack.lines.find((l) => /Redis at redis/.test(l)) ?? "")?.[1] as string;
      const passwordsFile = join(dir, "data", "redis", "users.acl.env");
      expect(statSync(passwordsFile).mode & 0o777).toBe(0o600);
      const admin = /HOIST_REDIS_PASSWORD_ADMIN="([^"]+)"/.exec(readFileSync(passwordsFile, "utf8"))?.[1] as string;
      const adminClient = new Redis(redisUrl, { username: "default", password: admin, maxRetriesPerRequest: 1 });
      try {
        const users = ((await adminClient.client("LIST")) as string).match(/\buser=\S+/g) ?? [];
        expect(new Set(users.filter((u) => u !== "user=default"))).toEqual(
          new Set(["user=hoist-api", "user=hoist-builder", "user=hoist-deployer", "user=hoist-notifier"]),
        );
      } finally {
        adminClient.disconnect();
      }
      const anonymous = new Redis(redisUrl, { maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false });
      anonymous.on("error", () => {});
      await expect(anonymous.get("hoist:rec:apps")).rejects.toThrow(/NOAUTH/);
      anonymous.disconnect();

      // Each worker holds its keyring (0600), never the master key: none of them warns that it does.
      for (const [service, purposes] of Object.entries(WORKER_PURPOSES)) {
        const file = join(dir, "data", "keyrings", `${service}.json`);
        expect(statSync(file).mode & 0o777).toBe(0o600);
        expect(Object.keys(JSON.parse(readFileSync(file, "utf8")).keys).sort()).toEqual([...purposes].sort());
        expect(stack.of(service).join("\n")).not.toMatch(/holds the master key/);
      }

      const health = parseHealthPorts(stack);
      const get = (url: string) => httpJson("GET", url);
      expect((await get(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect(await get(`http://127.0.0.1:${health.notifier}/healthz`)).toMatchObject({ status: 200 });
      expect(await get(`http://127.0.0.1:${health.builder}/healthz`)).toMatchObject({
        status: 200,
        body: { status: "degraded", reason: `docker unreachable at ${missing}: connect ENOENT ${missing}` },
      });

      // A build of a real commit gets as far as the engine and fails there with the reason.
      const token = readFileSync(join(dir, "data", "api-token"), "utf8").trim();
      const api = (method: string, path: string, body?: unknown) =>
        httpJson(method, `http://127.0.0.1:${port}/v1${path}`, {
          headers: { authorization: `Bearer ${token}` },
          ...(body ? { body } : {}),
        });
      const repo = createRepo();
      try {
        const sha = repo.commit({ Dockerfile: 'FROM busybox\nCMD ["true"]\n' }, "first");
        const created = await api("POST", "/apps", {
          name: "nodocker",
          repo: { sshUrl: repo.sshUrl },
          branch: "main",
          target: { kind: "local", services: { web: { port: await freePort() } } },
        });
        expect(created.status).toBe(201);
        authorizeKey((created.body.deployKey as { publicKey: string }).publicKey, repo);
        const queued = await api("POST", "/apps/nodocker/builds", { ref: "refs/heads/main", sha });
        expect(queued.status).toBe(202);
        const buildId = queued.body.id as string;
        let build: Record<string, unknown> = {};
        for (const t0 = Date.now(); Date.now() - t0 < 180_000; ) {
          build = (await api("GET", `/builds/${buildId}`)).body;
          if (build.status === "failed" || build.status === "succeeded") break;
          await new Promise((r) => setTimeout(r, 500));
        }
        expect(build).toMatchObject({ status: "failed", reason: expect.stringMatching(new RegExp(`^docker unreachable at ${missing}: `)) });
      } finally {
        repo.remove();
      }
      expect(stack.child.exitCode).toBeNull();
      for (const name of ["api", "builder", "deployer", "notifier"]) expect(stack.lines).not.toContain(`start    | ${name} exited`);
    },
    STARTUP_MS + 240_000,
  );
});
