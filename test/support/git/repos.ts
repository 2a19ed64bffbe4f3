import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/**
 * Real git repositories served by the test sshd (git-shell behind a `command=` key line): a bare
 * repo per test, commits made from a scratch clone, deploy keys made with ssh-keygen.
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

/** Lets `publicKey` run git (and nothing else) on the test sshd, as a GitLab deploy key would. */
export function authorizeKey(publicKey: string): void {
  appendFileSync(env("HOIST_TEST_SSH_AUTHORIZED_KEYS"), `restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" ${publicKey}\n`);
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
