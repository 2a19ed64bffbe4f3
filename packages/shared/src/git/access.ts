import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { localRepoPath, localRepoUrl } from "./location.js";
import { parseSshUrl, sshUrlOf } from "./ssh-url.js";

/**
 * How git reaches an app's repository: over SSH with the app's deploy key and pinned host keys,
 * or, for a local repository, through the file protocol. Either way only that one protocol is
 * allowed, and nothing of the user's git or ssh configuration applies.
 */
interface GitAccess {
  /** The URL to give git, after `--`: rebuilt from its parsed parts (an SSH URL) or a file:// URL. */
  url: string;
  /** `-c` pairs to put before the git subcommand. */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Masks the private directory (key path, known_hosts) in anything git printed. */
  redact(text: string): string;
  /** The known_hosts lines the connection used (empty for a local repository): pinned after a first use. */
  seenHostKeys(): Promise<string[]>;
}

interface GitAccessOptions {
  /** Private, already existing 0700 directory: the key and known_hosts go there. */
  dir: string;
  url: string;
  /** The deploy key, required for an SSH URL. */
  privateKey?: string;
  /** Pinned known_hosts lines; none = trust on first use (and `seenHostKeys` tells what was seen). */
  hostKeys?: string[];
}

const protocolOnly = (protocol: "ssh" | "file") => ["-c", "protocol.allow=never", "-c", `protocol.${protocol}.allow=always`];

/** The repository URL is not one git may be given: not an SSH URL (nor a local repository). */
export class GitUrlError extends Error {
  override name = "GitUrlError";
}

export async function gitAccess(o: GitAccessOptions): Promise<GitAccess> {
  const local = localRepoPath(o.url);
  const ssh = local === undefined ? parseSshUrl(o.url) : undefined;
  if (local === undefined && !ssh) {
    throw new GitUrlError(`${o.url} is not an SSH git URL (git@host:group/app.git or ssh://user@host:port/group/app.git)`);
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: o.dir,
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    LC_ALL: "C",
    // git's own allow-list, which also covers what the `-c` settings might miss (submodules,
    // `transport::address` helpers): one protocol, and none that a URL may ask for by itself.
    GIT_ALLOW_PROTOCOL: local === undefined ? "ssh" : "file",
    GIT_PROTOCOL_FROM_USER: "0",
  };
  const redact = (text: string) => text.split(o.dir).join("<keydir>");
  if (local !== undefined) return { url: localRepoUrl(local), args: protocolOnly("file"), env, redact, seenHostKeys: async () => [] };
  if (!o.privateKey) throw new Error(`no deploy key to reach ${o.url} with`);
  const keyPath = join(o.dir, "deploy_key");
  const knownHosts = join(o.dir, "known_hosts");
  await writeFile(keyPath, o.privateKey.endsWith("\n") ? o.privateKey : `${o.privateKey}\n`, { mode: 0o600 });
  await writeFile(knownHosts, o.hostKeys?.length ? `${o.hostKeys.join("\n")}\n` : "", { mode: 0o600 });
  env.GIT_SSH_COMMAND = [
    "ssh",
    "-F /dev/null",
    `-i '${keyPath}'`,
    "-o IdentitiesOnly=yes",
    "-o BatchMode=yes",
    "-o ConnectTimeout=20",
    `-o UserKnownHostsFile='${knownHosts}'`,
    "-o GlobalKnownHostsFile=/dev/null",
    "-o HashKnownHosts=no",
    `-o StrictHostKeyChecking=${o.hostKeys?.length ? "yes" : "accept-new"}`,
  ].join(" ");
  return {
    url: sshUrlOf(ssh as NonNullable<typeof ssh>),
    args: protocolOnly("ssh"),
    env,
    redact,
    seenHostKeys: async () =>
      (await readFile(knownHosts, "utf8"))
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#")),
  };
}

/**
 * git's own words for a failure, on one line: its last few lines, without the banners, hints
 * and the advice git prints after every remote failure.
 */
export function gitReason(stderr: string, max = 500): string {
  const text = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !/^@+$/.test(l) && !/^hint:/i.test(l))
    .filter((l) => !/^Please make sure you have the correct access rights$|^and the repository exists\.$/.test(l))
    .slice(-3)
    .join("; ");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text || "git gave no reason";
}
