import { spawn } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildLogKey, LogWriter } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, type ApiHarness, startApi } from "../support/api/harness.js";
import { createRepo, type TestRepo } from "../support/git/index.js";
import { repoRoot } from "../support/processes.js";

const BIN = join(repoRoot, "packages", "cli", "dist", "main.js");
const sha = (c: string) => c.repeat(40);

interface Running {
  /** Resolves once stderr (what was printed so far included) matches. */
  stderrMatch(re: RegExp): Promise<RegExpMatchArray>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts the built `hoist` binary as a user would, with its own config dir; stderr can be waited on while it runs. */
function start(args: string[], opts: { env?: Record<string, string>; stdin?: string; cwd?: string; bin?: string } = {}): Running {
  const child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
    env: { PATH: process.env.PATH ?? "", ...opts.env },
    stdio: ["pipe", "pipe", "pipe"],
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  let stdout = "";
  let stderr = "";
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => {
    stderr += d;
    for (const w of [...waiters]) {
      const m = stderr.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  child.stdin.end(opts.stdin ?? "");
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, stderr })),
  );
  return {
    done,
    stderrMatch: (re) =>
      new Promise((resolve, reject) => {
        const m = stderr.match(re);
        if (m) return resolve(m);
        waiters.push({ re, resolve });
        done.then(() => reject(new Error(`hoist exited before printing ${re}; stderr: ${stderr}`)));
      }),
  };
}

function hoist(args: string[], opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}) {
  return start(args, opts).done;
}

describe("hoist command line against a running API", () => {
  let h: ApiHarness;
  let env: Record<string, string>;

  let repo: TestRepo;
  let head: string;

  beforeAll(async () => {
    // The local repository first: the harness must not meet a blocked event loop while it connects.
    repo = createRepo();
    head = repo.commit({ "compose.yaml": "services: {}\n" }, "first");
    h = await startApi({ env: { HOIST_LOCAL_REPOS: "true" } });
    env = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), "hoist-cli-")), HOME: "/nonexistent" };
  });
  afterAll(async () => {
    await h?.close();
    repo?.remove();
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

  it("scales an app's service without a release; a bad count is a usage error, an unknown service the API's 400", async () => {
    const scaled = await hoist(["scale", "web", "web=3"], { env });
    expect(scaled).toMatchObject({ code: 0, stdout: "web scaled: web=3\n" });
    expect(JSON.parse((await hoist(["apps", "show", "web", "--json"], { env })).stdout).app.scale).toEqual({ web: 3 });
    expect((await hoist(["scale", "web", "web=-1"], { env })).code).toBe(2);
    expect((await hoist(["scale", "web"], { env })).code).toBe(2);
    const unknown = await hoist(["scale", "web", "api=2"], { env });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain("app web has no service api");
    expect((await hoist(["scale", "web", "web=1"], { env })).code).toBe(0);
  });

  it("turns previews on and lists them with their MR links; stops one; a bad setting is a usage error", async () => {
    expect((await hoist(["previews", "web", "set", "enabled=yes"], { env })).code).toBe(2);
    const set = await hoist(["previews", "web", "set", "enabled=true", "max=3"], { env });
    expect(set.stderr).toBe("");
    expect(set.stdout).toMatch(/^enabled\s+true$/m);
    expect(set.stdout).toMatch(/^max\s+3$/m);
    expect((await hoist(["previews", "web"], { env })).stdout.trim()).toBe("(none)");
    await h.deps.records.previews.upsert("web", 42, {
      status: "building",
      sha: sha("e"),
      sourceBranch: "vouchers",
      fork: false,
      mrUrl: "https://gitlab.example.com/acme/web/-/merge_requests/42",
    });
    const list = await hoist(["previews", "web"], { env });
    const [header, row] = list.stdout.trim().split("\n");
    expect(header).toMatch(/^MR\s+STATUS\s+URL\s+SHA\s+UPDATED\s+LINK$/);
    expect(row).toMatch(
      /^!42\s+building\s+http:\/\/mr-42\.web\.localhost\s+eeeeeeee\s+\S+\s+https:\/\/gitlab\.example\.com\/acme\/web\/-\/merge_requests\/42$/,
    );
    const json = JSON.parse((await hoist(["previews", "web", "--json"], { env })).stdout);
    expect(json.previews[0]).toMatchObject({ iid: 42, status: "building" });
    const stop = await hoist(["previews", "web", "stop", "42"], { env });
    expect(stop).toMatchObject({ code: 0, stdout: "stopping the preview of !42 of web\n" });
    expect((await hoist(["previews", "web", "stop", "7"], { env })).code).toBe(3);
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
    expect(started.stderr).toBe("");
    expect(started.code).toBe(0);
    const { build } = JSON.parse(started.stdout) as { build: { id: string; number: number; status: string } };
    expect(build).toMatchObject({ number: 1, status: "queued" });
    const table = await hoist(["builds", "web"], { env });
    expect(table.stdout).toMatch(new RegExp(`^${build.id}\\s+1\\s+main\\s+aaaaaaaa\\s+queued`, "m"));

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
      // Set as history left it (a release is retired only after being live): no lifecycle reaches it from pending.
      await records.releases.patch(r.id, { status, liveAt: new Date().toISOString() });
    }
    const list = await hoist(["releases", "web"], { env });
    expect(list.stdout).toMatch(/^ID\s+NUMBER\s+BUILDID\s+STATUS/);
    expect(list.stdout).toMatch(/\s2\s+bld_\S+\s+live\s/);
    const back = await hoist(["releases", "rollback", "web", "--json"], { env });
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ number: 3, status: "pending" });
  });

  it("creates an app on a local repository named relative to the working directory", async () => {
    const { dirname, basename } = await import("node:path");
    const created = await hoist(["apps", "create", "hello", "--repo", `./${basename(repo.barePath)}`], {
      env,
      cwd: dirname(repo.barePath),
    });
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`created app hello (branch main) from the local repository ${pathToFileURL(repo.barePath).href}`);
    expect(created.stdout).toContain("Commit, then: hoist deploy hello --wait");
    expect(created.stdout).not.toContain("Deploy keys");
  });

  it("deploy --wait resolves the app's branch on the server and prints each stage as it happens, to live", async () => {
    const run = start(["deploy", "hello", "--wait", "--no-cache"], { env });
    await run.stderrMatch(/build #1 of hello \(main at ([0-9a-f]{8}), no cache\) queued\n/);
    const [queued] = await h.deps.records.builds.listByApp("hello");
    expect(queued).toMatchObject({ number: 1, ref: "main", sha: head, status: "queued", noCache: true });
    const id = (queued as { id: string }).id;
    const { records } = h.deps;
    const log = new LogWriter(h.deps.redis, buildLogKey(h.prefix, id));
    await records.builds.transition(id, ["queued"], { status: "running" });
    log.write("start", `build #1 of hello at ${head} (main)`);
    log.write("clone", "checked out");
    await log.flush();
    await run.stderrMatch(/ {2}clone\n/);
    log.write("build web", "STEP 1/2: FROM busybox");
    await log.flush();
    await run.stderrMatch(/ {2}build web\n/);
    // As the builder finishes: the release first, then the build succeeded, then the log's end.
    const release = await records.releases.create({ app: "hello", buildId: id, images: [] });
    await records.builds.transition(id, ["running"], { status: "succeeded", releaseId: release.id });
    log.write("release", "release created; deploy queued");
    await log.end("succeeded");
    await run.stderrMatch(/release #1 created\n/);
    await records.releases.transition(release.id, ["pending"], { status: "deploying" });
    await run.stderrMatch(/release #1 deploying\n/);
    await records.releases.transition(release.id, ["deploying"], { status: "live", liveAt: new Date().toISOString() });
    const done = await run.done;
    expect(done.code).toBe(0);
    expect(done.stderr).toBe(
      [
        `build #1 of hello (main at ${head.slice(0, 8)}, no cache) queued`,
        "build #1 running",
        "  clone",
        "  build web",
        "build #1 succeeded",
        "release #1 created",
        "release #1 deploying",
        "release #1 live",
        "",
      ].join("\n"),
    );
    expect(done.stdout).toBe(`hello is live: release #1 (build #1, ${head.slice(0, 8)})\n`);
  });

  it("deploy --wait shows a failed build's reason and exits 1", async () => {
    const run = start(["deploy", "hello", "main", "--wait"], { env });
    await run.stderrMatch(/build #2 of hello \(main at [0-9a-f]{8}\) queued\n/);
    const [b] = await h.deps.records.builds.listByApp("hello");
    const id = (b as { id: string }).id;
    expect(b?.noCache).toBeUndefined();
    await h.deps.records.builds.transition(id, ["queued"], { status: "running" });
    const log = new LogWriter(h.deps.redis, buildLogKey(h.prefix, id));
    log.write("build web", "RUN make: exit code 2");
    await log.flush();
    await h.deps.records.builds.transition(id, ["running"], { status: "failed", reason: "build web: Dockerfile:3 RUN exit code 2" });
    await log.end("failed");
    const done = await run.done;
    expect(done.code).toBe(1);
    expect(done.stderr).toMatch(
      /build #2 running\n {2}build web\nbuild #2 failed: build web: Dockerfile:3 RUN exit code 2\nhoist: deploy of hello failed\n$/,
    );
    expect(done.stdout).toBe("");
  });

  it("a ref the repository does not have: exit 3 with the API's 422 and git's reason", async () => {
    const res = await hoist(["deploy", "hello", "no-such-branch", "--wait"], { env });
    expect(res.code).toBe(3);
    expect(res.stderr).toBe(
      `hoist: no-such-branch is neither a branch nor a tag of ${pathToFileURL(repo.barePath).href} (HTTP 422 unresolvable_ref)\n`,
    );
    expect((await hoist(["apps", "delete", "hello"], { env })).code).toBe(0);
  });

  it("is on the PATH as `hoist` after pnpm install (node_modules/.bin), with clean output", async () => {
    const { execFile } = await import("node:child_process");
    const bin = join(repoRoot, "node_modules", ".bin");
    const help = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile("hoist", ["--help"], { cwd: tmpdir(), env: { PATH: `${bin}:${process.env.PATH}` } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
      ),
    );
    expect(help).toEqual({ code: 0, stdout: expect.stringMatching(/^hoist: continuous delivery from GitLab\n/), stderr: "" });
    // Before `pnpm build`, the linked bin says what to do instead of a module-not-found trace.
    const bare = mkdtempSync(join(tmpdir(), "hoist-unbuilt-"));
    const { cpSync, mkdirSync } = await import("node:fs");
    mkdirSync(join(bare, "packages", "cli", "bin"), { recursive: true });
    cpSync(join(repoRoot, "packages", "cli", "bin", "hoist.js"), join(bare, "packages", "cli", "bin", "hoist.js"));
    const unbuilt = await start(["--help"], { bin: join(bare, "packages", "cli", "bin", "hoist.js") }).done;
    expect(unbuilt).toEqual({
      code: 2,
      stdout: "",
      stderr: `hoist: the command line is not built yet: run \`pnpm build\` (or \`pnpm start\`) in ${bare}/\n`,
    });
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
