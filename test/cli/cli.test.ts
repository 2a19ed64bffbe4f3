import { spawn } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildLogKey, LogWriter } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, type ApiHarness, startApi } from "../support/api/harness.js";
import { repoRoot } from "../support/processes.js";

const BIN = join(repoRoot, "packages", "cli", "dist", "main.js");
const sha = (c: string) => c.repeat(40);

/** Runs the built `hoist` binary as a user would, with its own config dir. */
function hoist(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? "", ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.end(opts.stdin ?? "");
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("hoist command line against a running API", () => {
  let h: ApiHarness;
  let env: Record<string, string>;

  beforeAll(async () => {
    h = await startApi();
    env = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), "hoist-cli-")), HOME: "/nonexistent" };
  });
  afterAll(async () => {
    await h?.close();
  });

  it("exits 2 on usage errors and when not logged in", async () => {
    expect((await hoist([], { env })).code).toBe(2);
    expect((await hoist(["frobnicate"], { env })).code).toBe(2);
    expect((await hoist(["apps", "list", "--bogus"], { env })).code).toBe(2);
    const notLogged = await hoist(["apps", "list"], { env });
    expect(notLogged.code).toBe(2);
    expect(notLogged.stderr).toContain("hoist login <url>");
  });

  it("logs in with the token from stdin and stores it 0600; a wrong token is refused", async () => {
    const bad = await hoist(["login", h.url], { env, stdin: "wrong-token\n" });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain("HTTP 401");
    const ok = await hoist(["login", h.url, "--json"], { env, stdin: `${API_TOKEN}\n` });
    expect(ok.code).toBe(0);
    const { config } = JSON.parse(ok.stdout) as { config: string };
    expect(config).toBe(join(env.XDG_CONFIG_HOME as string, "hoist", "config.json"));
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(ok.stdout).not.toContain(API_TOKEN);
  });

  it("creates, lists, shows and deletes apps, with readable tables and --json", async () => {
    const created = await hoist(
      ["apps", "create", "web", "--repo", "git@gitlab.example.com:acme/web.git", "--branch", "main", "--target-port", "18080"],
      { env },
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/URL:\s+http.*\/webhooks\/gitlab\//);
    expect(created.stdout).toMatch(/ssh-ed25519 AAAA\S+ hoist:web/);
    const again = await hoist(["apps", "create", "web", "--repo", "git@gitlab.example.com:acme/web.git"], { env });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain("HTTP 409");
    const list = await hoist(["apps", "list"], { env });
    expect(list.stdout.split("\n")[0]).toMatch(/^NAME\s+BRANCH\s+REPO\s+TARGET$/);
    expect(list.stdout).toMatch(/^web\s+main\s+git@gitlab\.example\.com:acme\/web\.git\s+local$/m);
    const json = JSON.parse((await hoist(["apps", "show", "web", "--json"], { env })).stdout);
    expect(json.app).toMatchObject({ name: "web", target: { kind: "local", services: { web: { port: 18080 } } } });
    expect((await hoist(["apps", "show", "nope"], { env })).code).toBe(3);
  });

  it("manages env names without ever printing values", async () => {
    expect((await hoist(["env", "set", "web", "DATABASE_URL=postgres://secret@db/x", "MODE=prod"], { env })).code).toBe(0);
    expect((await hoist(["env", "unset", "web", "MODE"], { env })).code).toBe(0);
    const list = await hoist(["env", "list", "web", "--json"], { env });
    expect(JSON.parse(list.stdout)).toEqual({ names: ["DATABASE_URL"] });
    expect(list.stdout).not.toContain("postgres://secret");
    expect((await hoist(["env", "set", "web", "no-equals"], { env })).code).toBe(2);
  });

  it("starts a build, follows its log to the end, and exits 1 when it failed", async () => {
    const started = await hoist(["deploy", "web", "main", "--sha", sha("a"), "--json"], { env });
    expect(started.code).toBe(0);
    const { build } = JSON.parse(started.stdout) as { build: { id: string; number: number; status: string } };
    expect(build).toMatchObject({ number: 1, status: "queued" });
    const table = await hoist(["builds", "web"], { env });
    expect(table.stdout).toMatch(new RegExp(`^${build.id}\\s+1\\s+refs/heads/main\\s+aaaaaaaa\\s+queued`, "m"));

    const following = hoist(["builds", "logs", build.id, "--follow"], { env });
    await h.deps.records.builds.transition(build.id, ["queued"], { status: "running" });
    const log = new LogWriter(h.deps.redis, buildLogKey(h.prefix, build.id));
    log.write("clone", "fetched aaaaaaa");
    log.write("build web", "RUN make: exit code 2");
    await log.flush();
    await h.deps.records.builds.transition(build.id, ["running"], { status: "failed", reason: "build web: Dockerfile:3 RUN exit code 2" });
    await log.end("failed");
    const done = await following;
    expect(done.code).toBe(1);
    expect(done.stderr).toContain("==> clone\nfetched aaaaaaa\n==> build web\nRUN make: exit code 2");
    expect(done.stdout).toContain("build #1 failed: build web: Dockerfile:3 RUN exit code 2");
    const cancel = await hoist(["builds", "cancel", build.id], { env });
    expect(cancel.code).toBe(3);
    expect(cancel.stderr).toContain("HTTP 409");
  });

  it("lists releases and rolls back through the API", async () => {
    const { records } = h.deps;
    for (const [n, status] of [
      [1, "retired"],
      [2, "live"],
    ] as const) {
      const b = await records.builds.create({ app: "web", ref: "refs/heads/main", sha: sha(String(n)), trigger: "push" });
      const r = await records.releases.create({ app: "web", buildId: b.id, images: [] });
      await records.releases.transition(r.id, ["pending"], { status, liveAt: new Date().toISOString() });
    }
    const list = await hoist(["releases", "web"], { env });
    expect(list.stdout).toMatch(/^ID\s+NUMBER\s+BUILDID\s+STATUS/);
    expect(list.stdout).toMatch(/\s2\s+bld_\S+\s+live\s/);
    const back = await hoist(["releases", "rollback", "web", "--json"], { env });
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ number: 3, status: "pending" });
  });

  it("HOIST_URL and HOIST_TOKEN override the stored login; deletes the app", async () => {
    const wrong = await hoist(["apps", "list"], { env: { ...env, HOIST_TOKEN: "x".repeat(40) } });
    expect(wrong.code).toBe(3);
    const down = await hoist(["apps", "list"], { env: { ...env, HOIST_URL: "http://127.0.0.1:9" } });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain("cannot reach the Hoist API");
    expect((await hoist(["apps", "delete", "web"], { env })).code).toBe(0);
    expect((await hoist(["apps", "list", "--json"], { env })).stdout).toContain('"apps": []');
  });
});
