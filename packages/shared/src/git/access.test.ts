import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GitUrlError, gitAccess } from "./access.js";

/** A listener on 127.0.0.1 that counts connections: git reaching it would show here. */
async function trap(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => n,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const git = (args: string[], env: NodeJS.ProcessEnv, cwd: string) =>
  new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile("git", args, { env, cwd, timeout: 20_000 }, (err, _out, stderr) => resolve({ code: err ? 1 : 0, stderr: String(stderr) })),
  );

describe("gitAccess", () => {
  it("refuses a URL that is not SSH before anything runs", async () => {
    await expect(gitAccess({ dir: tmpdir(), url: "https::http://127.0.0.1:9/x", privateKey: "k" })).rejects.toThrow(GitUrlError);
    await expect(gitAccess({ dir: tmpdir(), url: "ext::nc 127.0.0.1 9", privateKey: "k" })).rejects.toThrow(
      "ext::nc 127.0.0.1 9 is not an SSH git URL",
    );
  });

  it("gives git the URL rebuilt from its parts, and an environment that allows ssh only", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hoist-access-"));
    try {
      const a = await gitAccess({ dir, url: "ssh://git@127.0.0.1:2222/acme/web.git", privateKey: "k" });
      expect(a.url).toBe("ssh://git@127.0.0.1:2222/acme/web.git");
      expect(a.env).toMatchObject({ GIT_ALLOW_PROTOCOL: "ssh", GIT_PROTOCOL_FROM_USER: "0" });
      const local = await gitAccess({ dir, url: dir });
      expect(local.env.GIT_ALLOW_PROTOCOL).toBe("file");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("even a URL that got past the parser cannot make git use another transport: the canary hears nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hoist-access-"));
    const t = await trap();
    try {
      const access = await gitAccess({ dir, url: "git@127.0.0.1:acme/web.git", privateKey: "k" });
      for (const url of [`https::http://127.0.0.1:${t.port}/acme/web.git`, `http://127.0.0.1:${t.port}/acme/web.git`]) {
        const run = await git([...access.args, "ls-remote", "--", url], access.env, dir);
        expect(run.code, url).not.toBe(0);
        expect(run.stderr, url).toMatch(/transport '(https|http)' not allowed/);
      }
      expect(t.connections()).toBe(0);
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
