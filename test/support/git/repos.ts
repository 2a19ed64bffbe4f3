import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

/**
 * Real git repositories served by the test sshd: a bare repo per test, commits made from a
 * scratch clone and pushed to the bare repo on disk (as someone with write access would), deploy
 * keys made with ssh-keygen and let in by authorizeKey to the repositories they were added to.
 */
function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through vitest, whose global setup starts the sshd`);
  return v;
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Test",
      GIT_AUTHOR_EMAIL: "test@example.com",
      GIT_COMMITTER_NAME: "Test",
      GIT_COMMITTER_EMAIL: "test@example.com",
      GIT_CONFIG_GLOBAL: "/dev/null",
    },
  }).trim();

export type FileSpec = string | { symlink: string };

export interface TestRepo {
  /** `ssh://root@127.0.0.1:<port>/<path>.git` */
  sshUrl: string;
  barePath: string;
  /** Writes the files (relative paths; `null` deletes), commits, pushes to `branch`; returns the sha. */
  commit(files: Record<string, FileSpec | null>, message?: string, branch?: string): string;
  remove(): void;
}

export function createRepo(opts: { allowFetchBySha?: boolean } = {}): TestRepo {
  const root = mkdtempSync(join(tmpdir(), "hoist-git-"));
  const barePath = join(root, "app.git");
  const work = join(root, "work");
  execFileSync("git", ["init", "-q", "--bare", "-b", "main", barePath]);
  // GitLab allows fetching any reachable commit by id; a plain git server does not by default.
  if (opts.allowFetchBySha ?? true) git(barePath, "config", "uploadpack.allowReachableSHA1InWant", "true");
  execFileSync("git", ["init", "-q", "-b", "main", work]);
  return {
    sshUrl: `ssh://root@127.0.0.1:${env("HOIST_TEST_SSH_PORT")}${barePath}`,
    barePath,
    commit(files, message = "change", branch = "main") {
      for (const [path, spec] of Object.entries(files)) {
        const full = join(work, path);
        rmSync(full, { force: true, recursive: true });
        if (spec === null) continue;
        mkdirSync(dirname(full), { recursive: true });
        if (typeof spec === "string") writeFileSync(full, spec);
        else symlinkSync(spec.symlink, full);
      }
      git(work, "add", "-A");
      git(work, "commit", "-q", "--allow-empty", "-m", message);
      git(work, "push", "-q", barePath, `HEAD:refs/heads/${branch}`);
      return git(work, "rev-parse", "HEAD");
    },
    remove() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface Keypair {
  privateKey: string;
  publicKey: string;
}

export function makeKeypair(): Keypair {
  const dir = mkdtempSync(join(tmpdir(), "hoist-key-"));
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "hoist-test", "-f", join(dir, "id")]);
    return { privateKey: readFileSync(join(dir, "id"), "utf8"), publicKey: readFileSync(join(dir, "id.pub"), "utf8").trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A repository a key may reach: fetch only, or fetch and push (a deploy key's `can_push`). */
export interface RepoAccess {
  barePath: string;
  canPush?: boolean;
}

/** The checked-in gitlab-shell stand-in every key line runs (see the script for what it allows). */
const ACCESS_SCRIPT = resolve(import.meta.dirname, "git-access.sh");

/**
 * Lets `publicKey` fetch exactly `repos` over the test sshd, and push to those with `canPush`,
 * as a GitLab deploy key enabled on those projects; replaces what the key reached before (an
 * empty list: nothing). The key's authorized_keys line names a grants file, rewritten here
 * (atomically: sshd may be reading it), so one key on several projects has one line, as sshd
 * only ever uses a key's first line.
 */
export function authorizeKey(publicKey: string, repos: RepoAccess | RepoAccess[]): void {
  const list = Array.isArray(repos) ? repos : [repos];
  const [type, blob] = publicKey.trim().split(/\s+/);
  if (!type || !blob) throw new Error(`not an OpenSSH public key line: ${publicKey.slice(0, 40)}`);
  for (const p of [ACCESS_SCRIPT, ...list.map((r) => r.barePath)]) {
    if (!/^\/[A-Za-z0-9._/~-]+$/.test(p)) throw new Error(`${p}: the test sshd serves only absolute paths without spaces or quotes`);
  }
  const authorizedKeys = env("HOIST_TEST_SSH_AUTHORIZED_KEYS");
  const dir = join(dirname(authorizedKeys), "grants");
  mkdirSync(dir, { recursive: true });
  const grants = join(dir, createHash("sha256").update(blob).digest("hex").slice(0, 32));
  const tmp = `${grants}.${process.pid}.tmp`;
  writeFileSync(tmp, list.map((r) => `${r.canPush ? "write" : "read"} ${r.barePath}\n`).join(""));
  renameSync(tmp, grants);
  const line = `restrict,command="bash ${ACCESS_SCRIPT} ${grants}" ${type} ${blob}`;
  const present = existsSync(authorizedKeys) && readFileSync(authorizedKeys, "utf8").split("\n").includes(line);
  if (!present) appendFileSync(authorizedKeys, `${line}\n`);
}

/** The test sshd's real host key as a known_hosts line. */
export function sshHostKeyLine(): string {
  const [type, key] = readFileSync(env("HOIST_TEST_SSH_HOST_KEY"), "utf8").trim().split(/\s+/);
  return `[127.0.0.1]:${env("HOIST_TEST_SSH_PORT")} ${type} ${key}`;
}

/** A known_hosts line for the test sshd's address with some other key: what a changed host key looks like. */
export function wrongHostKeyLine(): string {
  const other = makeKeypair().publicKey.split(/\s+/);
  return `[127.0.0.1]:${env("HOIST_TEST_SSH_PORT")} ${other[0]} ${other[1]}`;
}
