import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { ensureBaseImages } from "../support/images/base-images.js";
import { freePort, listening, pingSocket } from "../support/net.js";
import { repoRoot } from "../support/processes.js";
import { alive, bareEnv, type Stack, startStack } from "./stack.js";

const run = promisify(execFile);

/** The shell blocks of docs/quickstart.md, in order, with the terminal each is meant for. */
function quickstartBlocks(markdown: string): { terminal: number; lines: string[] }[] {
  const out: { terminal: number; lines: string[] }[] = [];
  for (const m of markdown.matchAll(/^```sh terminal=(\d+)\n([\s\S]*?)^```$/gm)) {
    out.push({ terminal: Number(m[1]), lines: (m[2] as string).split("\n").filter((l) => l.trim() !== "") });
  }
  return out;
}

/**
 * A newcomer's first hour, scripted: from a fresh data dir and nothing set but what the machine
 * has, `pnpm start`, then docs/quickstart.md's commands line for line (the page the README quotes),
 * until `curl` answers the sample's text; a second commit deployed; Ctrl-C leaves nothing running.
 *
 * What differs from a newcomer's terminal, because a test must: the sample's port (8081) and
 * HOIST_PORT (8080) are free ports (a shared machine may hold them), the data dir and the copy of
 * the sample are temp dirs, HOME is a temp dir (hoist login writes there) with a git identity in
 * the environment, and the base image the sample's Dockerfile names (busybox) is built locally
 * into the private podman store (no Docker Hub here), as the other tests do.
 */
describe("newcomer: the quickstart, literally", () => {
  const dir = mkdtempSync(join(tmpdir(), "hoist-newcomer-"));
  let stack: Stack | undefined;
  afterAll(async () => {
    if (stack && stack.child.exitCode === null) {
      stack.interrupt();
      await stack.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("pnpm start, create, deploy, curl, change, deploy again, Ctrl-C", async () => {
    const doc = readFileSync(join(repoRoot, "docs", "quickstart.md"), "utf8");
    const blocks = quickstartBlocks(doc);
    expect(blocks.map((b) => b.terminal)).toEqual([1, 2, 2]);
    expect(blocks[0]?.lines).toEqual(["pnpm start"]);

    const hoistPort = await freePort();
    const appPort = await freePort();
    const helloDir = join(dir, "hello");
    const dataDir = join(dir, "data");
    stack = startStack(bareEnv({ HOIST_DATA_DIR: dataDir, HOIST_PORT: String(hoistPort) }));
    await stack.waitFor(/Ctrl-C stops everything/, 600_000);

    // The private podman pnpm start runs: give it the base image the sample names.
    const dockerLine = stack.lines.find((l) => /podman's Docker API at unix:\/\//.test(l)) ?? "";
    const socket = /unix:\/\/(\S+)/.exec(dockerLine)?.[1];
    expect(socket, `pnpm start started no private podman:\n${stack.lines.join("\n")}`).toBeDefined();
    await ensureBaseImages(new Docker({ socketPath: socket as string }));
    const registry = /a registry at (\S+)/.exec(stack.lines.find((l) => /a registry at /.test(l)) ?? "")?.[1];
    const redisUrl = /Redis at (redis:\/\/\S+)/.exec(stack.lines.find((l) => /Redis at redis/.test(l)) ?? "")?.[1];

    // Terminal 2: its blocks, line for line, in one shell (an `export` or `cd` carries on, as in a terminal).
    const home = join(dir, "home");
    const script = blocks
      .slice(1)
      .flatMap((b) => b.lines)
      .map((l) =>
        l
          .replaceAll("http://localhost:8080", `http://127.0.0.1:${hoistPort}`)
          .replaceAll(".hoist/api-token", join(dataDir, "api-token"))
          .replaceAll("/tmp/hello", helloDir)
          .replaceAll("8081", String(appPort)),
      )
      .join("\n");
    const shell = await run("bash", ["-euo", "pipefail", "-c", script], {
      cwd: repoRoot,
      env: {
        ...bareEnv({ HOME: home }),
        GIT_AUTHOR_NAME: "New Comer",
        GIT_AUTHOR_EMAIL: "new@example.test",
        GIT_COMMITTER_NAME: "New Comer",
        GIT_COMMITTER_EMAIL: "new@example.test",
      },
      timeout: 900_000,
    }).catch((err: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(
        `the quickstart failed (${err.code}):\n${err.stdout}\n${err.stderr}\n--- pnpm start:\n${stack?.lines.slice(-80).join("\n")}`,
      );
    });
    // curl printed the sample's text, then the second commit's.
    const first = shell.stdout.indexOf("Hello from Hoist!");
    const second = shell.stdout.indexOf("Hello again.");
    expect(first, shell.stdout).toBeGreaterThanOrEqual(0);
    expect(second, shell.stdout).toBeGreaterThan(first);

    // Ctrl-C: the services, Redis, the private podman (and the app's container) and the registry all stop.
    const pids = stack.pids();
    stack.interrupt();
    await stack.exited;
    expect(stack.lines.filter((l) => l.startsWith("start    |")).at(-1)).toBe("start    | stopped");
    for (const [name, pid] of pids) expect({ name, alive: alive(pid) }).toEqual({ name, alive: false });
    expect(await pingSocket(socket as string)).toBe(false);
    expect(await listening(appPort)).toBe(false);
    expect(await listening(hoistPort)).toBe(false);
    expect(registry && (await listening(Number(registry.split(":")[1])))).toBe(false);
    expect(redisUrl && (await listening(Number(new URL(redisUrl).port)))).toBe(false);
  }, 1_500_000);
});
