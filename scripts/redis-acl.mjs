#!/usr/bin/env node
// Writes a Redis ACL file with one user per Hoist service (packages/shared/src/redis/acl.ts) and
// prints the passwords as sourceable lines. Needs the built @hoist/shared (pnpm build).
//
//   node scripts/redis-acl.mjs <acl-file> <key-prefix-pattern>
//
// <key-prefix-pattern> is HOIST_QUEUE_PREFIX, or a Redis glob such as `*` when several prefixes
// share one Redis (the test suite gives every test a prefix of its own). Existing passwords in
// <acl-file>.env are kept, so a restart does not lock running services out.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { aclFile, SERVICE_USERS } from "../packages/shared/dist/redis/acl.js";

const [file, prefix] = process.argv.slice(2);
if (!file || !prefix) {
  console.error("usage: node scripts/redis-acl.mjs <acl-file> <key-prefix-pattern>");
  process.exit(64);
}
const envFile = `${file}.env`;
const known = {};
if (existsSync(envFile)) {
  for (const m of readFileSync(envFile, "utf8").matchAll(/^export HOIST_REDIS_PASSWORD_(\w+)="([^"]+)"$/gm)) {
    known[m[1].toLowerCase()] = m[2];
  }
}
const fresh = () => randomBytes(24).toString("hex");
const passwords = { admin: known.admin ?? fresh() };
for (const s of SERVICE_USERS) passwords[s] = known[s] ?? fresh();

writeFileSync(file, aclFile(prefix, passwords), { mode: 0o600 });
const lines = Object.entries(passwords).map(([who, pw]) => `export HOIST_REDIS_PASSWORD_${who.toUpperCase()}="${pw}"`);
writeFileSync(envFile, `${lines.join("\n")}\n`, { mode: 0o600 });
console.log(lines.join("\n"));
