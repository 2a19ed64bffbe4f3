import { normalize } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The setting that lets apps build from a repository on this machine. */
export const LOCAL_REPOS_SETTING = "HOIST_LOCAL_REPOS";

/**
 * The directory of a local repository (`file:///abs/path` or `/abs/path`); undefined for
 * anything else, SSH URLs included. A `file://` URL naming another host is not local.
 */
export function localRepoPath(url: string): string | undefined {
  if (url.startsWith("file://")) {
    try {
      return normalize(fileURLToPath(url));
    } catch {
      return undefined;
    }
  }
  return url.startsWith("/") ? normalize(url) : undefined;
}

/** The one spelling a local repository is stored under: a `file://` URL. */
export function localRepoUrl(path: string): string {
  return pathToFileURL(path).href;
}
