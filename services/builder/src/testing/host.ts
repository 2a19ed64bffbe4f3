import { readdirSync, readFileSync } from "node:fs";

/** Processes on this machine (the test engine's host) whose command line is exactly `argv`. */
export function processesRunning(...argv: string[]): number[] {
  const wanted = `${argv.join("\0")}\0`;
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8") === wanted;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}
