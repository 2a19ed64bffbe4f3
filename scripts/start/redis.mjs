// A private Redis for `pnpm start` when REDIS_URL is unset: AOF everysec (at most a second of
// accepted work at risk on a crash) and noeviction (BullMQ never loses keys), data in $HOIST_DATA_DIR/redis.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports.mjs";

const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Returns the URL, or undefined after saying why there is none (Redis is the one thing the stack cannot run without). */
export async function startRedis(supervisor, dataDir, say) {
  if (!has("redis-server")) {
    say(
      "start",
      "no Redis: install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) or set REDIS_URL=redis://host:6379",
    );
    return undefined;
  }
  const dir = join(dataDir, "redis");
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  // biome-ignore format: one flag and its value a line
  const args = ["--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--appendonly", "yes",
    "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--save", "", "--loglevel", "warning"];
  const child = supervisor.run("redis", "redis-server", args);
  const t0 = Date.now();
  while (Date.now() - t0 < 10_000 && child.exitCode === null) {
    const r = spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" });
    if (r.stdout?.trim() === "PONG") return `redis://127.0.0.1:${port}`;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  say("start", `redis-server did not start on 127.0.0.1:${port}; see its output above`);
  return undefined;
}
