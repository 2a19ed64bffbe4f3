import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type App,
  GitUrlError,
  gitAccess,
  gitReason,
  LOCAL_REPOS_SETTING,
  localRepoPath,
  type SecretBox,
  secretContexts,
} from "@hoist/shared";
import { UnprocessableError } from "./errors.js";

interface ResolvedRef {
  /** As a push names it: the branch or tag name (a full ref only outside refs/heads and refs/tags). */
  ref: string;
  sha: string;
  /** The git host's keys seen on a first, trust-on-first-use connection: to pin. */
  firstHostKeys?: string[];
}

const GIT_TIMEOUT_MS = 30_000;

const unresolvable = (message: string) => new UnprocessableError("unresolvable_ref", message);

/** The refs `ref` may name on the remote, most preferred first (a branch over a tag of the same name). */
function candidates(ref: string): string[] {
  if (ref.startsWith("refs/")) return [`${ref}^{}`, ref];
  return [`refs/heads/${ref}`, `refs/tags/${ref}^{}`, `refs/tags/${ref}`];
}

const shortName = (full: string) => full.replace(/\^\{\}$/, "").replace(/^refs\/(heads|tags)\//, "");

/**
 * Resolves a branch or tag to its commit with the app's own access, as the builder clones: the
 * deploy key over SSH against the pinned host keys (trust on first use when none are pinned yet),
 * or the local repository. Failures are 422 with git's reason.
 */
export async function resolveRef(app: App, ref: string, o: { secrets: SecretBox; localRepos: boolean }): Promise<ResolvedRef> {
  const url = app.repo.sshUrl;
  const local = localRepoPath(url) !== undefined;
  if (local && !o.localRepos) throw unresolvable(`${url} is a local repository, and ${LOCAL_REPOS_SETTING} is off on this API`);
  if (!local && !app.deployKey) throw unresolvable(`app ${app.name} has no deploy key to read ${url} with; recreate it`);
  const privateKey = app.deployKey
    ? (await o.secrets.open(app.deployKey.privateKey, secretContexts.deployKey(app.name))).toString("utf8")
    : undefined;
  const dir = await mkdtemp(join(tmpdir(), "hoist-ls-remote-"));
  try {
    const access = await gitAccess({
      dir,
      url,
      ...(privateKey ? { privateKey } : {}),
      ...(app.hostKeys?.length ? { hostKeys: app.hostKeys } : {}),
    }).catch((err: unknown) => {
      // Refused before git runs: a stored URL that is not SSH (e.g. https::, ext::) never reaches git.
      throw err instanceof GitUrlError ? unresolvable(err.message) : err;
    });
    // ls-remote lists a tag's peeled line (`^{}`: the commit) only when asked for it by name.
    const wanted = candidates(ref);
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        "git",
        [...access.args, "ls-remote", "--", access.url, ...wanted],
        { env: access.env, cwd: dir, timeout: GIT_TIMEOUT_MS, killSignal: "SIGKILL", maxBuffer: 4 * 1024 * 1024 },
        (err, out, stderr) => {
          if (!err) return resolve(out);
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          const why = e.killed ? `no answer in ${GIT_TIMEOUT_MS / 1000} s` : gitReason(access.redact(String(stderr)));
          reject(unresolvable(`git ls-remote ${url} failed: ${why}`));
        },
      );
    });
    const refs = new Map<string, string>();
    for (const line of stdout.split("\n")) {
      const [sha, name] = line.trim().split("\t");
      if (sha && name && /^[0-9a-f]{40}$/.test(sha)) refs.set(name, sha);
    }
    const hit = wanted.find((c) => refs.has(c));
    if (!hit) throw unresolvable(`${ref} is neither a branch nor a tag of ${url}`);
    const seen = app.hostKeys?.length ? [] : await access.seenHostKeys();
    return { ref: shortName(hit), sha: refs.get(hit) as string, ...(seen.length ? { firstHostKeys: seen } : {}) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
