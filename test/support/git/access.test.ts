import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployKeyRoutes, deployKeysServeGit } from "../gitlab/deploy-keys.js";
import { type GitlabTestServer, startGitlabServer } from "../gitlab/server.js";
import { userRoutes } from "../gitlab/users.js";
import { authorizeKey, createRepo, type Keypair, makeKeypair, sshHostKeyLine, type TestRepo } from "./repos.js";

const NOT_FOUND = "The project you were looking for could not be found or you don't have permission to view it.";
const READ_ONLY = "This deploy key does not have write access to this project.";

/** A command's exit code and output; never throws, a refusal is what these tests look at. */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { ...opts, encoding: "utf8", timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** What the test sshd does for a deploy key, through real ssh and git clients. */
describe("the test sshd gives a deploy key what GitLab gives it", () => {
  const dir = mkdtempSync(join(tmpdir(), "hoist-access-"));
  const knownHosts = join(dir, "known_hosts");
  let a: TestRepo;
  let b: TestRepo;
  let shaA: string;
  let shaB: string;

  beforeAll(() => {
    writeFileSync(knownHosts, `${sshHostKeyLine()}\n`);
    a = createRepo();
    b = createRepo();
    shaA = a.commit({ "a.txt": "app A\n" }, "A");
    shaB = b.commit({ "b.txt": "app B\n" }, "B");
  });
  afterAll(() => {
    a.remove();
    b.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  function keyFile(key: Keypair): string {
    const file = join(dir, `key-${randomBytes(4).toString("hex")}`);
    writeFileSync(file, key.privateKey, { mode: 0o600 });
    return file;
  }
  const sshArgs = (file: string) => [
    "-i",
    file,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
  ];
  /** `git <args>` as the holder of `key` would run it; never throws, answers code and output. */
  const git = (key: string, cwd: string, ...args: string[]) =>
    run("git", args, {
      cwd,
      env: { ...process.env, GIT_SSH_COMMAND: `ssh ${sshArgs(key).join(" ")}`, GIT_CONFIG_GLOBAL: "/dev/null", GIT_TERMINAL_PROMPT: "0" },
    });
  /** A raw SSH command, as anyone holding `key` may send one. */
  const ssh = (key: string, command?: string) =>
    run("ssh", ["-n", ...sshArgs(key), "-p", String(process.env.HOIST_TEST_SSH_PORT), "root@127.0.0.1", ...(command ? [command] : [])], {});

  /** Commits a change in a clone at `work` and pushes it to `repo` over ssh with `key`. */
  async function pushWith(key: string, repo: TestRepo, name: string) {
    const work = join(dir, name);
    await git(key, dir, "clone", "-q", repo.sshUrl, work);
    writeFileSync(join(work, `${name}.txt`), name);
    const id = ["-c", "user.name=T", "-c", "user.email=t@example.com"];
    await git(key, work, "add", "-A");
    await git(key, work, ...id, "commit", "-q", "-m", name);
    return git(key, work, "push", "-q", "origin", "HEAD:refs/heads/main");
  }
  const head = async (repo: TestRepo) => (await run("git", ["rev-parse", "main"], { cwd: repo.barePath })).stdout.trim();

  it("a key of app A fetches A, cannot fetch B and cannot push to A", async () => {
    const key = makeKeypair();
    authorizeKey(key.publicKey, a);
    const file = keyFile(key);

    const listed = await git(file, dir, "ls-remote", a.sshUrl, "refs/heads/main");
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toBe(`${shaA}\trefs/heads/main\n`);

    const other = await git(file, dir, "clone", "-q", b.sshUrl, join(dir, "b-clone"));
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain(`remote: ${NOT_FOUND}`);

    const pushed = await pushWith(file, a, "push-a");
    expect(pushed.code).not.toBe(0);
    expect(pushed.stderr).toContain(`remote: ${READ_ONLY}`);
    expect(await head(a)).toBe(shaA);
  });

  it("a key marked can_push pushes to its own repository only", async () => {
    const key = makeKeypair();
    authorizeKey(key.publicKey, [{ barePath: a.barePath, canPush: true }, { barePath: b.barePath }]);
    const file = keyFile(key);
    const pushed = await pushWith(file, a, "push-ok");
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(await head(a)).not.toBe(shaA);
    shaA = await head(a);

    const toB = await pushWith(file, b, "push-b");
    expect(toB.stderr).toContain(`remote: ${READ_ONLY}`);
    expect(await head(b)).toBe(shaB);
  });

  it("refuses anything but git on a path it was given, word for word as gitlab-shell", async () => {
    const key = makeKeypair();
    authorizeKey(key.publicKey, a);
    const file = keyFile(key);
    const framed = (msg: string) => {
      const rule = `remote: ${"=".repeat(72)}\n`;
      return `remote: \n${rule}remote: \nremote: ${msg}\nremote: \n${rule}remote: \n`;
    };

    expect(await ssh(file)).toMatchObject({ code: 0, stdout: "Welcome to GitLab, Anonymous!\n" });
    expect(await ssh(file, "ls /")).toMatchObject({ code: 1, stderr: framed("Disallowed command") });
    expect(await ssh(file, `git-upload-pack '${a.barePath}'; touch ${dir}/owned`)).toMatchObject({ stderr: framed("Disallowed command") });
    expect(await ssh(file, `git-upload-pack '${a.barePath}/../../..${b.barePath}'`)).toMatchObject({ code: 1, stderr: framed(NOT_FOUND) });
    expect(await ssh(file, `git-upload-pack '${a.barePath.replace(/\.git$/, "")}'`)).toMatchObject({ code: 1, stderr: framed(NOT_FOUND) });
    expect(await ssh(file, `git-receive-pack '${a.barePath}'`)).toMatchObject({ code: 1, stderr: framed(READ_ONLY) });
    expect(await ssh(file, "git-shell")).toMatchObject({ code: 1, stderr: framed("Disallowed command") });

    // What git itself sends, in both spellings, is let through.
    const archive = await git(file, dir, "archive", `--remote=${a.sshUrl}`, "--format=tar", "main", "a.txt");
    expect(archive.code, archive.stderr).toBe(0);
    const old = await ssh(file, `git upload-pack '${a.barePath}'`);
    expect(old.stdout).toContain(`${shaA} HEAD`);
  });

  describe("through the GitLab test server's deploy keys", () => {
    let gitlab: GitlabTestServer;
    const token = `glpat-${randomBytes(10).toString("hex")}`;
    let projectA: number;
    let projectB: number;

    beforeAll(async () => {
      gitlab = await startGitlabServer([userRoutes, deployKeysServeGit, deployKeyRoutes]);
      const user = gitlab.state.addUser("maintainer", token);
      const project = (name: string, repo: TestRepo) => {
        const p = gitlab.state.addProject(
          { path_with_namespace: `acme/${name}`, default_branch: "main", ssh_url_to_repo: repo.sshUrl, bareRepoPath: repo.barePath },
          gitlab.url,
        );
        gitlab.state.addMember(p, user, "maintainer");
        return p.id;
      };
      projectA = project("a", a);
      projectB = project("b", b);
    });
    afterAll(() => gitlab.close());

    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${gitlab.url}/api/v4${path}`, {
        method,
        headers: { "private-token": token, "content-type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: res.status === 204 ? undefined : ((await res.json()) as { id: number }) };
    };

    it("a key added to two projects reaches both, and loses a project when removed from it", async () => {
      const key = makeKeypair();
      const file = keyFile(key);
      const lsMain = async (repo: TestRepo) => (await git(file, dir, "ls-remote", repo.sshUrl, "refs/heads/main")).stdout;
      const onA = await api("POST", `/projects/${projectA}/deploy_keys`, { title: "hoist:a", key: key.publicKey });
      expect(onA.status).toBe(201);
      expect(await lsMain(a)).toBe(`${shaA}\trefs/heads/main\n`);
      expect((await git(file, dir, "ls-remote", b.sshUrl)).stderr).toContain(`remote: ${NOT_FOUND}`);

      const onB = await api("POST", `/projects/${projectB}/deploy_keys`, { title: "hoist:b", key: key.publicKey });
      expect(onB.status).toBe(201);
      expect(await lsMain(a)).toBe(`${shaA}\trefs/heads/main\n`);
      expect(await lsMain(b)).toBe(`${shaB}\trefs/heads/main\n`);

      expect((await api("DELETE", `/projects/${projectB}/deploy_keys/${onB.body?.id}`)).status).toBe(204);
      expect((await git(file, dir, "ls-remote", b.sshUrl)).stderr).toContain(`remote: ${NOT_FOUND}`);
      expect(await lsMain(a)).toBe(`${shaA}\trefs/heads/main\n`);

      expect((await api("DELETE", `/projects/${projectA}/deploy_keys/${onA.body?.id}`)).status).toBe(204);
      expect((await git(file, dir, "ls-remote", a.sshUrl)).stderr).toContain(`remote: ${NOT_FOUND}`);
    });

    it("a key added with can_push pushes to that project and only fetches the other", async () => {
      const key = makeKeypair();
      const file = keyFile(key);
      expect((await api("POST", `/projects/${projectA}/deploy_keys`, { title: "ci", key: key.publicKey, can_push: true })).status).toBe(
        201,
      );
      expect((await api("POST", `/projects/${projectB}/deploy_keys`, { title: "ci", key: key.publicKey })).status).toBe(201);
      const before = await head(a);
      expect((await pushWith(file, a, "api-push-a")).code).toBe(0);
      expect(await head(a)).not.toBe(before);
      shaA = await head(a);
      expect((await pushWith(file, b, "api-push-b")).stderr).toContain(`remote: ${READ_ONLY}`);
      expect(await head(b)).toBe(shaB);
    });
  });
});
