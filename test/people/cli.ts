import { spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../support/processes.js";

const BIN = join(repoRoot, "packages", "cli", "dist", "main.js");

/** Runs the built `hoist` binary as a user would (HOIST_URL/HOIST_TOKEN in `env`). */
export function hoist(
  args: string[],
  env: Record<string, string>,
  stdin = "",
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.end(stdin);
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}
