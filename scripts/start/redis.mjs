// A private Redis for `pnpm start` when REDIS_URL is unset: AOF everysec (at most a second of
// accepted work at risk on a crash) and noeviction (BullMQ never loses keys), data in $HOIST_DATA_DIR/redis.
// It has a user per service (scripts/redis-acl.mjs: each may do only what its role needs) and the
// default user has an admin password; the passwords are kept in $HOIST_DATA_DIR/redis/users.acl.env (0600).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeRedisAcl } from "../redis-acl.mjs";
import { freePort } from "./ports.mjs";

const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/**
 * Returns the URL (no credentials: for display), the ACL file and each service's URL with its
 * own user, or undefined after saying why there is none (Redis is the one thing the stack cannot run without).
 */
export async function startRedis(supervisor, dataDir, prefix, say) {
  if (!has("redis-server")) {
    say(
      "start",
      "no Redis: install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) or set REDIS_URL=redis://host:6379",
    );
    return undefined;
  }
  const dir = join(dataDir, "redis");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  // Written on every start for the prefix in use; the passwords already kept stay the same.
  const aclFile = join(dir, "users.acl");
  const passwords = await writeRedisAcl(aclFile, prefix);
  const port = await freePort();
  // biome-ignore format: one flag and its value a line
  const args = ["--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--appendonly", "yes",
    "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--save", "", "--loglevel", "warning",
    "--aclfile", aclFile];
  const child = supervisor.run("redis", "redis-server", args);
  const url = `redis://127.0.0.1:${port}`;
  const t0 = Date.now();
  while (Date.now() - t0 < 10_000 && child.exitCode === null) {
    const r = spawnSync("redis-cli", ["-p", String(port), "ping"], {
      encoding: "utf8",
      env: { ...process.env, REDISCLI_AUTH: passwords.admin },
    });
    if (r.stdout?.trim() === "PONG") {
      const { serviceRedisUrl } = await import("../../packages/shared/dist/redis/acl.js");
      const users = Object.fromEntries(["api", "builder", "deployer", "notifier"].map((s) => [s, serviceRedisUrl(url, s, passwords[s])]));
      return { url, aclFile, users };
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  say("start", `redis-server did not start on 127.0.0.1:${port}; see its output above`);
  return undefined;
}
