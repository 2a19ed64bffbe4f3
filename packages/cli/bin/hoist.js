#!/usr/bin/env node
// The `hoist` command as pnpm links it: runs the built CLI, or says how to build it first.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(main)) {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  process.stderr.write(`hoist: the command line is not built yet: run \`pnpm build\` (or \`pnpm start\`) in ${root}\n`);
  process.exit(2);
}
await import(main.href);
