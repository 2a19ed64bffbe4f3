import { createReadStream, type Dirent, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { pack } from "tar-stream";
import { isIgnored, mayReincludeBelow, parseDockerignore } from "../domain/dockerignore.js";

/** Fixed mtime for every entry: a fresh checkout's mtimes must not defeat the build cache. */
const EPOCH = new Date("2000-01-01T00:00:00Z");
/** Files up to this size are read in one go; bigger ones are streamed. */
const SMALL = 1 << 20;

interface Entry {
  rel: string;
  abs: string;
  kind: "file" | "directory" | "symlink";
  mode: number;
  size: number;
}

/** Walks the context in sorted order, applying the ignore rules (an excluded directory is skipped unless an exception may reach inside it). */
function walk(contextDir: string, keep: Set<string>, rules: ReturnType<typeof parseDockerignore>): Entry[] {
  const out: Entry[] = [];
  const visit = (relDir: string) => {
    const absDir = relDir ? join(contextDir, relDir) : contextDir;
    const dirents: Dirent[] = readdirSync(absDir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of dirents) {
      const rel = relDir ? `${relDir}/${d.name}` : d.name;
      const abs = join(absDir, d.name);
      const ignored = !keep.has(rel) && isIgnored(rules, rel);
      if (d.isDirectory()) {
        if (ignored && !mayReincludeBelow(rules, rel)) continue;
        if (!ignored) out.push({ rel, abs, kind: "directory", mode: lstatSync(abs).mode & 0o7777, size: 0 });
        visit(rel);
      } else if (!ignored && (d.isFile() || d.isSymbolicLink())) {
        const st = lstatSync(abs);
        out.push({ rel, abs, kind: d.isFile() ? "file" : "symlink", mode: st.mode & 0o7777, size: d.isFile() ? st.size : 0 });
      }
      // Sockets, FIFOs and devices have no place in a build context.
    }
  };
  visit("");
  return out;
}

/**
 * A tar stream of a build context honouring its `.dockerignore`. The Dockerfile and
 * `.dockerignore` always go in, as Docker sends them even when ignored. Symlinks are stored as
 * links, never followed, so nothing outside the context is read. Owners and mtimes are fixed, so
 * the same commit always gives the same tar (and the build cache hits).
 */
export function contextTar(contextDir: string, dockerfile: string, extra?: { name: string; content: string }): NodeJS.ReadableStream {
  let rules: ReturnType<typeof parseDockerignore> = [];
  try {
    rules = parseDockerignore(readFileSync(join(contextDir, ".dockerignore"), "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const keep = new Set([dockerfile.replace(/^\.\//, ""), ".dockerignore"]);
  const entries = walk(contextDir, keep, rules).filter((e) => e.rel !== extra?.name);
  const tar = pack();
  const common = { mtime: EPOCH, uid: 0, gid: 0 };
  // When the pack is destroyed (the engine's socket is gone, say), its pending entries are
  // destroyed with the same error: the pack's consumer hears it; an entry must not crash the
  // process with it as an unhandled 'error' event.
  const entry = (header: Parameters<typeof tar.entry>[0], content?: Buffer | string) => {
    const sink = content === undefined ? tar.entry(header) : tar.entry(header, content);
    sink.on("error", () => {});
    return sink;
  };
  void (async () => {
    if (extra) entry({ ...common, name: extra.name, type: "file", mode: 0o644 }, extra.content);
    for (const e of entries) {
      if (e.kind === "directory") {
        entry({ ...common, name: e.rel, type: "directory", mode: e.mode });
      } else if (e.kind === "symlink") {
        entry({ ...common, name: e.rel, type: "symlink", mode: e.mode, linkname: readlinkSync(e.abs) });
      } else if (e.size <= SMALL) {
        entry({ ...common, name: e.rel, type: "file", mode: e.mode, size: e.size }, readFileSync(e.abs));
      } else {
        await pipeline(createReadStream(e.abs), entry({ ...common, name: e.rel, type: "file", mode: e.mode, size: e.size }));
      }
    }
    tar.finalize();
  })().catch((err: Error) => tar.destroy(err));
  // A streamx stream: pipe(), data events and async iteration work as with a Node Readable.
  return tar as unknown as NodeJS.ReadableStream;
}
