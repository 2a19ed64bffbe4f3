import { randomBytes } from "node:crypto";
import { mkdir, readdir, realpath, rm } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { ComposeError } from "../domain/compose.js";

/**
 * Per-build temp dirs under the work dir, named `<buildId>.<pid>.<instance>` so a starting worker
 * can tell which ones a dead process left behind. `instance` is random per process: a restarted
 * container's builder often gets the same pid (1) as the one that crashed.
 */
const instance = randomBytes(4).toString("hex");

interface Workspace {
  root: string;
  /** 0700: the deploy key and known_hosts. */
  secretDir: string;
  repoDir: string;
  remove(): Promise<void>;
}

export async function createWorkspace(workDir: string, buildId: string): Promise<Workspace> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const root = join(workDir, `${buildId}.${process.pid}.${instance}.${randomBytes(3).toString("hex")}`);
  await mkdir(root, { mode: 0o700 });
  const secretDir = join(root, "ssh");
  await mkdir(secretDir, { mode: 0o700 });
  return {
    root,
    secretDir,
    repoDir: join(root, "src"),
    remove: () => rm(root, { recursive: true, force: true, maxRetries: 3 }),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temp dirs of builder processes that are gone (a crash leaves its dirs, and its
 * decrypted keys, behind). Dirs of live processes, this one included, are left alone.
 */
export async function removeStaleWorkspaces(workDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(workDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^[A-Za-z0-9_-]+\.(\d+)\.([0-9a-f]+)(?:\.[0-9a-f]+)?$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    // Ours, or another live process's: keep. Our pid with another instance: a previous process.
    if (pid === process.pid ? m[2] === instance : alive(pid)) continue;
    await rm(join(workDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * Resolves a repository-relative path on disk and refuses it when it, or a symlink on the way,
 * leads outside the repository. Returns the real absolute path.
 */
export async function realPathInside(repoDir: string, rel: string, what: string): Promise<string> {
  const root = await realpath(repoDir);
  let real: string;
  try {
    real = await realpath(join(root, rel));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      // A missing path: still check the lexical form, and say it is missing.
      throw new ComposeError(`${what} ${rel} does not exist in the repository`);
    }
    throw err;
  }
  const r = relative(root, real);
  if (r === ".." || r.startsWith(`..${sep}`) || r.startsWith(sep)) {
    throw new ComposeError(`${what} ${rel} leaves the repository`);
  }
  return real;
}
