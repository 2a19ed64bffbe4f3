import { readFileSync, statSync } from "node:fs";
import { relative, sep } from "node:path";
import type { Readable } from "node:stream";
import { pack } from "tar-fs";
import { isIgnored, mayReincludeBelow, parseDockerignore } from "../domain/dockerignore.js";

/** Fixed mtime for every entry: a fresh checkout's mtimes must not defeat the build cache. */
const EPOCH = new Date("2000-01-01T00:00:00Z");

/**
 * A tar stream of a build context honouring its `.dockerignore`. The Dockerfile and
 * `.dockerignore` always go in, as Docker sends them even when ignored. Symlinks are stored as
 * links, never followed, so nothing outside the context is read.
 */
export function contextTar(contextDir: string, dockerfile: string): Readable {
  let rules: ReturnType<typeof parseDockerignore> = [];
  try {
    rules = parseDockerignore(readFileSync(`${contextDir}/.dockerignore`, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const keep = new Set([dockerfile.replace(/^\.\//, ""), ".dockerignore"]);
  return pack(contextDir, {
    dereference: false,
    ignore: (name) => {
      const rel = relative(contextDir, name).split(sep).join("/");
      if (rel === "" || keep.has(rel)) return false;
      if (!isIgnored(rules, rel)) return false;
      // An ignored directory is still walked when an exception may bring something back below it.
      try {
        if (statSync(name).isDirectory() && mayReincludeBelow(rules, rel)) return false;
      } catch {
        return true;
      }
      return true;
    },
    map: (header) => {
      header.mtime = EPOCH;
      header.uid = 0;
      header.gid = 0;
      return header;
    },
  });
}
