#!/usr/bin/env node
// Writes a Redis ACL file with one user per Hoist service (packages/shared/src/redis/acl.ts) and
// prints the passwords as sourceable lines. Needs the built @hoist/shared (pnpm build).
//
//   node scripts/redis-acl.mjs <acl-file> <key-prefix-pattern>
//
// <key-prefix-pattern> is HOIST_QUEUE_PREFIX, or a Redis glob such as `*` when several prefixes
// share one Redis (the test suite gives every test a prefix of its own). Existing passwords in
// <acl-file>.env are kept, so a restart does not lock running services out; delete a line there
// (or the file) to rotate that password. The ACL file holds only the passwords' SHA-256 (it may be
// readable by Redis's own user); <acl-file>.env holds the passwords (mode 0600).
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const line = /^export HOIST_REDIS_PASSWORD_(\w+)="([^"]+)"$/gm;

/** Writes `file` and `file.env`; returns the passwords by user ("admin" and each service). */
export async function writeRedisAcl(file, prefix) {
  const { aclFile, SERVICE_USERS } = await import("../packages/shared/dist/redis/acl.js");
  const envFile = `${file}.env`;
  const known = {};
  if (existsSync(envFile)) for (const m of readFileSync(envFile, "utf8").matchAll(line)) known[m[1].toLowerCase()] = m[2];
  const fresh = () => randomBytes(24).toString("hex");
  const passwords = { admin: known.admin ?? fresh() };
  for (const s of SERVICE_USERS) passwords[s] = known[s] ?? fresh();
  writeFileSync(file, aclFile(prefix, passwords), { mode: 0o644 });
  chmodSync(file, 0o644);
  const lines = Object.entries(passwords).map(([who, pw]) => `export HOIST_REDIS_PASSWORD_${who.toUpperCase()}="${pw}"`);
  writeFileSync(envFile, `${lines.join("\n")}\n`, { mode: 0o600 });
  chmodSync(envFile, 0o600);
  return passwords;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [file, prefix] = process.argv.slice(2);
  if (!file || !prefix) {
    console.error("usage: node scripts/redis-acl.mjs <acl-file> <key-prefix-pattern>");
    process.exit(64);
  }
  const passwords = await writeRedisAcl(file, prefix).catch((err) => {
    const missing = err?.code === "ERR_MODULE_NOT_FOUND";
    console.error(missing ? "packages/shared is not built: run pnpm install && pnpm build first" : String(err?.message ?? err));
    process.exit(1);
  });
  for (const [who, pw] of Object.entries(passwords)) console.log(`export HOIST_REDIS_PASSWORD_${who.toUpperCase()}="${pw}"`);
}
