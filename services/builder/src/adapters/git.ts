import { spawn } from "node:child_process";
import { gitAccess, LOCAL_REPOS_SETTING, localRepoPath, localRepoUrl, parseSshUrl as parseSsh, sshUrlOf } from "@hoist/shared";
import { BuildFailure, gitFailure } from "../domain/failure.js";

interface SshTarget {
  /** The URL git is given. */
  url: string;
  /** The host as known_hosts names it: `host`, or `[host]:port` for a port other than 22. */
  knownHostsName: string;
  /** For messages. */
  host: string;
}

/**
 * Parses `git@host:group/app.git` and `ssh://user@host:port/path.git` (shared parseSshUrl: no
 * `https::`, `ext::` or option-like hosts) and rebuilds the URL git gets from the parts.
 */
export function parseSshUrl(url: string): SshTarget {
  const loc = parseSsh(url);
  if (!loc) {
    throw new BuildFailure(`clone: ${url} is not an SSH git URL (git@host:group/app.git or ssh://user@host:port/path.git)`, true);
  }
  const port = loc.port === 22 ? undefined : loc.port;
  return { url: sshUrlOf(loc), host: loc.host, knownHostsName: port ? `[${loc.host}]:${port}` : loc.host };
}

interface GitRun {
  code: number;
  stderr: string;
}

/**
 * Runs git in its own process group, so an abort kills git and the ssh it started. Every
 * output line goes to `onLine`.
 */
function runGit(
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; signal: AbortSignal; onLine: (line: string) => void },
): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) return reject(opts.signal.reason);
    const child = spawn("git", args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const onData = (buf: Buffer) => {
      const text = buf.toString("utf8");
      for (const line of text.split(/\r?\n|\r/)) if (line.trim()) opts.onLine(line);
      return text;
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (buf: Buffer) => {
      stderr += onData(buf);
      if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
    });
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    opts.signal.addEventListener("abort", kill, { once: true });
    child.once("error", (err) => {
      opts.signal.removeEventListener("abort", kill);
      reject(err);
    });
    child.once("close", (code) => {
      opts.signal.removeEventListener("abort", kill);
      if (opts.signal.aborted) reject(opts.signal.reason);
      else resolve({ code: code ?? 1, stderr });
    });
  });
}

interface FetchOptions {
  /** Private, already existing 0700 directory for the key and known_hosts. */
  secretDir: string;
  /** Where the checkout goes (created by git init). */
  repoDir: string;
  /** The app's repository: an SSH URL, or (with `allowLocal`) a local path or file:// URL. */
  sshUrl: string;
  sha: string;
  /** The deploy key; a local repository needs none. */
  privateKey: string | undefined;
  /** Pinned known_hosts lines; undefined = trust on first use (the key seen is returned). */
  hostKeys: string[] | undefined;
  /** HOIST_LOCAL_REPOS: whether a local repository may be cloned at all. */
  allowLocal?: boolean;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Extra `git -c` settings (tests force protocol v0 to meet a server that refuses a fetch by id). */
  gitConfig?: string[];
}

/** Where git fetches from: the SSH target, or a local repository when HOIST_LOCAL_REPOS allows it. */
function sourceOf(o: FetchOptions): SshTarget {
  const local = localRepoPath(o.sshUrl);
  if (local === undefined) {
    const target = parseSshUrl(o.sshUrl);
    if (!o.privateKey) throw new BuildFailure("clone: the app has no deploy key; add one and build again", true);
    return target;
  }
  if (!o.allowLocal) {
    throw new BuildFailure(
      `clone: ${o.sshUrl} is a local repository and ${LOCAL_REPOS_SETTING} is off on this builder; set ${LOCAL_REPOS_SETTING}=true or give the app an SSH URL`,
      true,
    );
  }
  return { url: localRepoUrl(local), host: local, knownHostsName: "" };
}

/**
 * Fetches exactly `sha` (over SSH with the deploy key, or from a local repository) and checks it
 * out. Returns the known_hosts lines the connection used (to pin them after a first,
 * trust-on-first-use fetch).
 */
export async function fetchCommit(o: FetchOptions): Promise<{ hostKeys: string[] }> {
  const target = sourceOf(o);
  const access = await gitAccess({
    dir: o.secretDir,
    url: target.url,
    ...(o.privateKey ? { privateKey: o.privateKey } : {}),
    ...(o.hostKeys ? { hostKeys: o.hostKeys } : {}),
  });
  const env = access.env;
  // Key paths and the workspace never reach the log.
  const log = (line: string) => o.log(access.redact(line));
  const cfg = [...access.args, ...(o.gitConfig ?? []).flatMap((c) => ["-c", c])];
  const git = (args: string[], cwd = o.repoDir) => runGit([...cfg, ...args], { cwd, env, signal: o.signal, onLine: log });

  const init = await runGit(["init", "-q", o.repoDir], { cwd: o.secretDir, env, signal: o.signal, onLine: log });
  if (init.code !== 0) throw new BuildFailure(`clone: git init failed: ${init.stderr.trim()}`, false);
  log(`fetching ${o.sha} from ${o.sshUrl}`);
  // `--` first: whatever the URL says, git reads it as a repository, never as an option.
  let fetched = await git(["fetch", "--depth", "1", "--no-tags", "--progress", "--", access.url, o.sha]);
  if (
    fetched.code !== 0 &&
    /not our ref|unadvertised object|couldn't find remote ref|no such remote ref|not a valid/i.test(fetched.stderr)
  ) {
    // A server that refuses a fetch by SHA: fetch every branch and find the commit among them.
    log("the server refused a fetch by commit id; fetching all branches");
    fetched = await git(["fetch", "--no-tags", "--progress", "--", access.url, "+refs/heads/*:refs/remotes/origin/*"]);
    if (fetched.code === 0) {
      const has = await git(["cat-file", "-e", `${o.sha}^{commit}`]);
      if (has.code !== 0) throw new BuildFailure(`clone: commit ${o.sha} not found on ${target.host}`, true);
    }
  }
  if (fetched.code !== 0) throw gitFailure(fetched.stderr, target.host);
  const checkout = await git(["-c", "advice.detachedHead=false", "checkout", "-q", "--force", o.sha]);
  if (checkout.code !== 0) throw new BuildFailure(`clone: checkout of ${o.sha} failed: ${checkout.stderr.trim()}`, true);
  let head = "";
  await runGit(["rev-parse", "HEAD"], {
    cwd: o.repoDir,
    env,
    signal: o.signal,
    onLine: (l) => {
      head = l.trim();
    },
  });
  if (head !== o.sha) throw new BuildFailure(`clone: HEAD is ${head || "unknown"}, not the requested ${o.sha}`, true);
  log(`checked out ${o.sha}`);
  return { hostKeys: await access.seenHostKeys() };
}
