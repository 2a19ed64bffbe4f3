import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { authorizeKey, createRepo, sshHostKeyLine, type TestRepo, wrongHostKeyLine } from "../support/git/index.js";

/** An annotated tag on the bare repo: its ls-remote line is the tag object, `^{}` the commit. */
function annotatedTag(repo: TestRepo, name: string, sha: string): void {
  execFileSync("git", ["-C", repo.barePath, "tag", "-a", name, "-m", name, sha], {
    env: { ...process.env, GIT_COMMITTER_NAME: "Test", GIT_COMMITTER_EMAIL: "t@example.com", GIT_CONFIG_GLOBAL: "/dev/null" },
  });
}

describe("local repositories with HOIST_LOCAL_REPOS off (the default)", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("refuses a path or file:// URL with 400 naming the setting", async () => {
    for (const sshUrl of ["/srv/repos/hello", "file:///srv/repos/hello"]) {
      const res = await h.api("POST", "/apps", { name: "hello", repo: { sshUrl } });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("local_repos_disabled");
      expect(res.body.error.message).toContain("HOIST_LOCAL_REPOS=true");
    }
    expect((await h.api("GET", "/apps/hello")).status).toBe(404);
  });
});

describe("local repositories with HOIST_LOCAL_REPOS=true", () => {
  let h: ApiHarness;
  let repo: TestRepo;
  let head: string;
  let first: string;
  beforeAll(async () => {
    // Repositories first: the harness must not meet a blocked event loop while it connects.
    repo = createRepo();
    first = repo.commit({ "a.txt": "one\n" }, "one");
    annotatedTag(repo, "v1", first);
    head = repo.commit({ "a.txt": "two\n" }, "two");
    h = await startApi({ env: { HOIST_LOCAL_REPOS: "true" } });
  });
  afterAll(async () => {
    await h?.close();
    repo?.remove();
  });

  it("creates an app on a local path, stored as a file:// URL, with no deploy key", async () => {
    const res = await h.api("POST", "/apps", { name: "local", repo: { sshUrl: repo.barePath } });
    expect(res.status).toBe(201);
    expect(res.body.app.repo.sshUrl).toBe(pathToFileURL(repo.barePath).href);
    expect(res.body.deployKey).toBeNull();
    expect(res.body.app.deployKey).toBeNull();
    const missing = await h.api("POST", "/apps", { name: "nowhere", repo: { sshUrl: "/nonexistent/hoist/repo" } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain("no directory at /nonexistent/hoist/repo");
    const relative = await h.api("POST", "/apps", { name: "rel", repo: { sshUrl: "./examples/hello" } });
    expect(relative.status).toBe(400);
    expect(relative.body.error.message).toMatch(/^repo\.sshUrl: .*absolute path or file:\/\/ URL/);
  });

  it("resolves a branch, a full ref and an annotated tag on the server, and answers 202", async () => {
    const main = await h.api("POST", "/apps/local/builds", { ref: "main" });
    expect(main.status).toBe(202);
    expect(main.body).toMatchObject({ ref: "main", sha: head, status: "queued", trigger: "manual" });
    expect((await h.deps.queues.queue("build").getJob(main.body.id))?.data).toEqual({ kind: "build", buildId: main.body.id });
    expect((await h.api("POST", "/apps/local/builds", { ref: "refs/heads/main" })).body).toMatchObject({ ref: "main", sha: head });
    expect((await h.api("POST", "/apps/local/builds", { ref: "v1" })).body).toMatchObject({ ref: "v1", sha: first });
  });

  it("answers 422 with the reason for a ref that is not there", async () => {
    const res = await h.api("POST", "/apps/local/builds", { ref: "no-such-branch" });
    expect(res.status).toBe(422);
    expect(res.body.error).toEqual({
      code: "unresolvable_ref",
      message: `no-such-branch is neither a branch nor a tag of ${pathToFileURL(repo.barePath).href}`,
    });
    const bad = await h.api("POST", "/apps/local/builds", { ref: "--upload-pack=touch /tmp/x" });
    expect(bad.status).toBe(400);
  });

  it("gives git's reason when the repository is gone", async () => {
    const gone = mkdtempSync(join(tmpdir(), "hoist-gone-"));
    expect((await h.api("POST", "/apps", { name: "gone", repo: { sshUrl: gone } })).status).toBe(201);
    rmSync(gone, { recursive: true, force: true });
    const res = await h.api("POST", "/apps/gone/builds", { ref: "main" });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(
      /^git ls-remote file:\/\/.* failed: .*(does not appear to be a git repository|not a git repository)/,
    );
  });

  it("stores noCache on the build the builder reads", async () => {
    const res = await h.api("POST", "/apps/local/builds", { ref: "main", noCache: true });
    expect(res.status).toBe(202);
    expect(res.body.noCache).toBe(true);
    expect((await h.deps.records.builds.get(res.body.id))?.noCache).toBe(true);
    const cached = await h.api("POST", "/apps/local/builds", { ref: "main", sha: head });
    expect((await h.deps.records.builds.get(cached.body.id))?.noCache).toBeUndefined();
    expect((await h.api("POST", "/apps/local/builds", { ref: "main", noCache: "yes" })).status).toBe(400);
  });
});

describe("ref resolution over SSH with the app's own deploy key", () => {
  let h: ApiHarness;
  let repo: TestRepo;
  let head: string;
  let publicKey: string;
  beforeAll(async () => {
    repo = createRepo();
    head = repo.commit({ "a.txt": "one\n" }, "one");
    h = await startApi();
    const created = await h.api("POST", "/apps", { name: "remote", repo: { sshUrl: repo.sshUrl } });
    expect(created.status).toBe(201);
    publicKey = created.body.deployKey.publicKey;
  });
  afterAll(async () => {
    await h?.close();
    repo?.remove();
  });

  it("is refused by the git host until the app's deploy key is authorized, with ssh's reason", async () => {
    const res = await h.api("POST", "/apps/remote/builds", { ref: "main" });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("unresolvable_ref");
    expect(res.body.error.message).toMatch(/^git ls-remote ssh:\/\/.* failed: .*Permission denied \(publickey\)/);
    expect(res.body.error.message).not.toMatch(/hoist-ls-remote|deploy_key/);
    expect((await h.api("GET", "/apps/remote")).body.app.hostKeys).toEqual([]);
  });

  it("resolves with the deploy key, pins the host key on first use, then refuses a changed one", async () => {
    authorizeKey(publicKey, repo);
    const res = await h.api("POST", "/apps/remote/builds", { ref: "main" });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ ref: "main", sha: head });
    expect((await h.api("GET", "/apps/remote")).body.app.hostKeys).toEqual([sshHostKeyLine()]);

    await h.deps.records.apps.update("remote", { hostKeys: [wrongHostKeyLine()] });
    const changed = await h.api("POST", "/apps/remote/builds", { ref: "main" });
    expect(changed.status).toBe(422);
    expect(changed.body.error.message).toContain("Host key verification failed");
  });

  it("shows and uses the keys the builder pinned under their own key (not in the app record)", async () => {
    for (const [name, line, status] of [
      ["builder-pinned", sshHostKeyLine(), 202],
      ["builder-pinned-wrong", wrongHostKeyLine(), 422],
    ] as const) {
      const created = await h.api("POST", "/apps", { name, repo: { sshUrl: repo.sshUrl } });
      authorizeKey(created.body.deployKey.publicKey, repo);
      expect(await h.deps.records.apps.pinHostKeys(name, [line])).toBe(true);
      expect((await h.api("GET", `/apps/${name}`)).body.app.hostKeys).toEqual([line]);
      const res = await h.api("POST", `/apps/${name}/builds`, { ref: "main" });
      expect(res.status).toBe(status);
      if (status === 422) expect(res.body.error.message).toContain("Host key verification failed");
      // Pinned already: the API wrote nothing into the app record.
      expect(await h.redis.hget(h.deps.records.apps.key(name), "hostKeys")).toBeNull();
    }
  });
});
