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
 * has, `pnpm start`, then docs/quickstart.md's commands line by line (the page the README quotes),
 * until `curl` answers the sample's text; a second commit deployed; Ctrl-C leaves nothing running.
 *
 * Three things differ from a newcomer's terminal, because a test must: the sample's port (8081)
 * and HOIST_PORT are free ports (a shared machine may hold 8080/8081), the sample's copy goes to
 * a temp dir instead of /tmp/hello, and the base image the sample's Dockerfile names is built
 * locally into the private podman store (no Docker Hub here), as the other tests do. `hoist` is
 * the workspace's bin (node_modules/.bin, as `pnpm install` links it), pointed at the API with
 * HOIST_URL and the token `pnpm start` made.
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
    await stack.waitFor(/Hoist is up/, 600_000);

    // The private podman pnpm start runs: give it the base image the sample names.
    const dockerLine = stack.lines.find((l) => /podman's Docker API at unix:\/\//.test(l)) ?? "";
    const socket = /unix:\/\/(\S+)/.exec(dockerLine)?.[1];
    expect(socket, `pnpm start started no private podman:\n${stack.lines.join("\n")}`).toBeDefined();
    await ensureBaseImages(new Docker({ socketPath: socket as string }));
    const registry = /a registry at (\S+)/.exec(stack.lines.find((l) => /a registry at /.test(l)) ?? "")?.[1];
    const redisUrl = /Redis at (redis:\/\/\S+)/.exec(stack.lines.find((l) => /Redis at redis/.test(l)) ?? "")?.[1];

    const shellEnv = {
      ...bareEnv(),
      PATH: `${join(repoRoot, "node_modules", ".bin")}:${process.env.PATH}`,
      HOIST_URL: `http://127.0.0.1:${hoistPort}`,
      HOIST_TOKEN: readFileSync(join(dataDir, "api-token"), "utf8").trim(),
    };
    const curls: string[] = [];
    for (const block of blocks.slice(1)) {
      for (const literal of block.lines) {
        const line = literal.replaceAll("/tmp/hello", helloDir).replaceAll("8081", String(appPort));
        const out = await run("bash", ["-c", line], { cwd: repoRoot, env: shellEnv, timeout: 600_000 }).catch(
          (err: { code?: number; stdout?: string; stderr?: string }) => {
            throw new Error(
              `\`${literal}\` failed (${err.code}):\n${err.stdout}\n${err.stderr}\n--- pnpm start:\n${stack?.lines.slice(-80).join("\n")}`,
            );
          },
        );
        if (line.startsWith("curl ")) curls.push(out.stdout);
      }
    }
    // The sample's text, then the text of the second commit.
    expect(curls).toHaveLength(2);
    expect(curls[0]).toMatch(/Hello/);
    expect(curls[1]).toMatch(/Hello again/);
    expect(curls[1]).not.toBe(curls[0]);

    // Ctrl-C: the services, Redis, the private podman (and the app's container) and the registry all stop.
    const pids = stack.pids();
    stack.interrupt();
    expect((await stack.exited).code).toBe(0);
    for (const [name, pid] of pids) expect({ name, alive: alive(pid) }).toEqual({ name, alive: false });
    expect(await pingSocket(socket as string)).toBe(false);
    expect(await listening(appPort)).toBe(false);
    expect(await listening(hoistPort)).toBe(false);
    expect(registry && (await listening(Number(registry.split(":")[1])))).toBe(false);
    expect(redisUrl && (await listening(Number(new URL(redisUrl).port)))).toBe(false);
  }, 1_500_000);
});
