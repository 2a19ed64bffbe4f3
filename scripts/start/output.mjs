// Prefixed, coloured lines for `pnpm start`: one column per process, so interleaved logs stay readable.
import { createInterface } from "node:readline";

const colours = { api: 36, builder: 33, deployer: 35, notifier: 32, redis: 90, services: 90, start: 1 };
const paint = (name, text) => (process.stdout.isTTY ? `\x1b[${colours[name] ?? 0}m${text}\x1b[0m` : text);

export const say = (name, line) => process.stdout.write(`${paint(name, `${name.padEnd(8)} |`)} ${line}\n`);

/** Prefixes every line a child writes; `onLine` sees them too (readiness, one-line errors). */
export function pipeLines(name, child, onLine) {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      say(name, line);
      onLine?.(line);
    });
  }
}
