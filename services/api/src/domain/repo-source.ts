import { stat } from "node:fs/promises";
import { LOCAL_REPOS_SETTING, localRepoPath, localRepoUrl } from "@hoist/shared";
import { InvalidInputError } from "./errors.js";

/**
 * The repository an app builds from, as stored: an SSH URL as given, or, with HOIST_LOCAL_REPOS,
 * an existing local directory as a file:// URL. Off, a local repository is refused: in production
 * a path would name the API's and builders' own disks.
 */
export async function acceptRepo(url: string, localRepos: boolean): Promise<{ url: string; local: boolean }> {
  const path = localRepoPath(url);
  if (path === undefined) return { url, local: false };
  if (!localRepos) {
    throw new InvalidInputError(
      "local_repos_disabled",
      `repo.sshUrl: ${url} is a local repository, and ${LOCAL_REPOS_SETTING} is off on this API; set ${LOCAL_REPOS_SETTING}=true (the default under pnpm start) or give an SSH clone URL`,
    );
  }
  const isDir = await stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw new InvalidInputError("invalid_request", `repo.sshUrl: no directory at ${path} on the Hoist host`);
  return { url: localRepoUrl(path), local: true };
}
