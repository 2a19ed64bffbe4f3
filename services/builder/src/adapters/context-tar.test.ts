import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extract } from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { contextTar } from "./context-tar.js";

async function list(dir: string, dockerfile = "Dockerfile"): Promise<Map<string, { type: string; mtime: number; linkname?: string }>> {
  const out = new Map<string, { type: string; mtime: number; linkname?: string }>();
  const ex = extract();
  ex.on("entry", (header, stream, next) => {
    out.set(header.name, {
      type: header.type ?? "file",
      mtime: header.mtime?.getTime() ?? 0,
      ...(header.linkname ? { linkname: header.linkname } : {}),
    });
    stream.on("end", next);
    stream.resume();
  });
  const done = new Promise((res, rej) => {
    ex.on("finish", () => res(undefined));
    ex.on("error", rej);
  });
  contextTar(dir, dockerfile).pipe(ex);
  await done;
  return out;
}

describe("contextTar", () => {
  const dir = mkdtempSync(join(tmpdir(), "hoist-ctx-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("honours .dockerignore, keeps the Dockerfile, stores symlinks as links and fixes mtimes", async () => {
    for (const [p, c] of Object.entries({
      Dockerfile: "FROM busybox\n",
      ".dockerignore": "Dockerfile\n.dockerignore\nnode_modules\n*.log\ndocs\n!docs/keep.md\n",
      "src/index.js": "1",
      "node_modules/x/i.js": "1",
      "debug.log": "1",
      "docs/a.md": "1",
      "docs/keep.md": "1",
    })) {
      mkdirSync(join(dir, p, ".."), { recursive: true });
      writeFileSync(join(dir, p), c);
    }
    symlinkSync("/etc/passwd", join(dir, "link"));
    const entries = await list(dir);
    const files = [...entries.keys()].filter((k) => entries.get(k)?.type !== "directory").sort();
    expect(files).toEqual([".dockerignore", "Dockerfile", "docs/keep.md", "link", "src/index.js"]);
    expect(entries.get("link")).toMatchObject({ type: "symlink", linkname: "/etc/passwd" });
    expect(new Set([...entries.values()].map((e) => e.mtime))).toEqual(new Set([Date.parse("2000-01-01T00:00:00Z")]));
  });

  it("a pack destroyed before it is read (no engine at the socket) fails quietly: its pending entries crash nothing", async () => {
    const ctx = mkdtempSync(join(tmpdir(), "hoist-ctx-gone-"));
    try {
      for (let i = 0; i < 5; i++) writeFileSync(join(ctx, `f${i}.txt`), "x".repeat(1000));
      writeFileSync(join(ctx, "Dockerfile"), "FROM busybox\n");
      const tar = contextTar(ctx, "Dockerfile") as NodeJS.ReadableStream & { destroy(err: Error): void };
      const seen: Error[] = [];
      tar.on("error", (err: Error) => seen.push(err));
      // What docker-modem does when the connect fails: the request's error destroys the piped context.
      tar.destroy(Object.assign(new Error("connect ENOENT /var/run/docker.sock"), { code: "ENOENT", syscall: "connect" }));
      // An entry's unhandled 'error' would surface here as an uncaught exception and fail the run.
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.map((e) => e.message)).toEqual(["connect ENOENT /var/run/docker.sock"]);
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
  });
});
