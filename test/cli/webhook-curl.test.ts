import { execFile, execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { repoRoot } from "../support/processes.js";

/** The shell block of docs/webhook-curl.md that holds the curl command, as a reader would copy it. */
function docExample(): string {
  const doc = readFileSync(join(repoRoot, "docs", "webhook-curl.md"), "utf8");
  const block = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string).find((b) => b.includes("curl "));
  if (!block) throw new Error("docs/webhook-curl.md has no sh block with a curl command");
  return block;
}

describe("docs/webhook-curl.md: the curl Push Hook, run as written", () => {
  let h: ApiHarness;
  let dir: string;
  let head: string;

  beforeAll(async () => {
    // examples/hello as its own repository, as the quickstart makes it (before the API: no blocked loop while it connects).
    dir = mkdtempSync(join(tmpdir(), "hoist-hello-"));
    cpSync(join(repoRoot, "examples", "hello"), dir, { recursive: true });
    const git = (...args: string[]) =>
      execFileSync("git", args, {
        cwd: dir,
        encoding: "utf8",
        env: {
          ...process.env,
          GIT_CONFIG_GLOBAL: "/dev/null",
          GIT_AUTHOR_NAME: "Ada",
          GIT_AUTHOR_EMAIL: "ada@example.com",
          GIT_COMMITTER_NAME: "Ada",
          GIT_COMMITTER_EMAIL: "ada@example.com",
        },
      }).trim();
    git("init", "-q", "-b", "main");
    git("add", "-A");
    git("commit", "-qm", "hello");
    head = git("rev-parse", "HEAD");
    h = await startApi({ env: { HOIST_LOCAL_REPOS: "true" } });
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("queues a build of the repository's HEAD: HTTP 202", async () => {
    const created = await h.api("POST", "/apps", { name: "hello", repo: { sshUrl: dir } });
    expect(created.status).toBe(201);
    const url = `${h.url}${new URL(created.body.webhook.url).pathname}`;
    const example = docExample();
    // Only the two values a reader pastes in change; every other line runs as written.
    const script = example
      .replace(/^HOOK_URL=.*$/m, `HOOK_URL="${url}"`)
      .replace(/^HOOK_TOKEN=.*$/m, `HOOK_TOKEN="${created.body.webhook.token}"`);
    expect(script).not.toBe(example);
    // Asynchronously: the API answering it runs in this process.
    const { stdout: out } = await promisify(execFile)("bash", ["-euo", "pipefail", "-c", script], { cwd: dir, timeout: 30_000 });
    expect(out).toMatch(/\nHTTP 202\n$/);
    const answer = JSON.parse(out.slice(0, out.lastIndexOf("\nHTTP"))) as { status: string; buildId: string };
    expect(answer.status).toBe("queued");
    expect(await h.deps.records.builds.get(answer.buildId)).toMatchObject({
      app: "hello",
      ref: "main",
      sha: head,
      trigger: "push",
      status: "queued",
      commit: { title: "hello", author: "Ada" },
    });
  });
});
