#!/usr/bin/env node
// `pnpm start`: builds what is stale, brings up a private Redis when REDIS_URL is unset, then runs
// the four services as separate processes with prefixed, coloured logs. Ctrl-C (or SIGTERM) stops
// them all, then Redis. pnpm runs this in a process group of its own, so signals reach the
// children only through here: we forward them.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const services = ["api", "builder", "deployer", "notifier"];
const colours = { api: 36, builder: 33, deployer: 35, notifier: 32, redis: 90, start: 1 };
const paint = (name, text) => (process.stdout.isTTY ? `\x1b[${colours[name]}m${text}\x1b[0m` : text);
const say = (name, line) => process.stdout.write(`${paint(name, `${name.padEnd(8)} |`)} ${line}\n`);

const children = new Map();
let stopping = false;
let redisStop;

function freePort() {
  return new Promise((ok, ko) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", ko);
  });
}

async function startRedis(dataDir) {
  if (spawnSync("sh", ["-c", "command -v redis-server"]).status !== 0) {
    say("start", "redis-server was not found on PATH, and REDIS_URL is not set.");
    say("start", "Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis),");
    say("start", "or point Hoist at a Redis 7 with maxmemory-policy noeviction: REDIS_URL=redis://host:6379 pnpm start");
    process.exit(1);
  }
  const dir = join(dataDir, "redis");
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  // AOF everysec: at most a second of accepted work is at risk on a crash; noeviction: BullMQ never loses keys.
  const child = spawn(
    "redis-server",
    [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--maxmemory-policy",
      "noeviction",
      "--save",
      "",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  pipeLines("redis", child);
  const ready = await new Promise((ok) => {
    const t0 = Date.now();
    const poll = () => {
      const r = spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" });
      if (r.stdout?.trim() === "PONG") return ok(true);
      if (Date.now() - t0 > 10_000 || child.exitCode !== null) return ok(false);
      setTimeout(poll, 100);
    };
    poll();
  });
  if (!ready) {
    say("start", `redis-server did not start on 127.0.0.1:${port}; see its output above`);
    child.kill("SIGTERM");
    process.exit(1);
  }
  redisStop = () =>
    new Promise((ok) => {
      if (child.exitCode !== null) return ok();
      child.once("exit", ok);
      child.kill("SIGTERM");
    });
  return `redis://127.0.0.1:${port}`;
}

function pipeLines(name, child) {
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => say(name, line));
  }
}

async function stopAll(signal) {
  if (stopping) return;
  stopping = true;
  say("start", `stopping (${signal})`);
  await Promise.all(
    [...children.entries()].map(
      ([, child]) =>
        new Promise((ok) => {
          if (child.exitCode !== null || child.signalCode !== null) return ok();
          child.once("exit", ok);
          child.kill("SIGTERM");
        }),
    ),
  );
  await redisStop?.();
  process.exit(signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 1);
}

const env = { ...process.env };
env.HOIST_DATA_DIR ??= join(root, ".hoist");
say("start", "building (turbo skips what is up to date)");
execFileSync(join(root, "node_modules", ".bin", "turbo"), ["run", "build", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
if (!env.HOIST_API_TOKEN) {
  // A first run on a fresh machine gets an API token of its own, kept (0600) for the next runs.
  const file = join(env.HOIST_DATA_DIR, "api-token");
  mkdirSync(env.HOIST_DATA_DIR, { recursive: true });
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  env.HOIST_API_TOKEN = readFileSync(file, "utf8").trim();
  say("start", `HOIST_API_TOKEN is unset: using the token kept in ${file} (mode 0600); sign in and call the API with it`);
}
if (!env.REDIS_URL) {
  env.REDIS_URL = await startRedis(env.HOIST_DATA_DIR);
  say("start", `started a private Redis at ${env.REDIS_URL} (data in ${env.HOIST_DATA_DIR}/redis)`);
}
for (const name of services) {
  const child = spawn(process.execPath, [join(root, "services", name, "dist", "main.js")], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.set(name, child);
  pipeLines(name, child);
  child.on("exit", (code, sig) => {
    say("start", `${name} exited (${sig ?? code})`);
    if (!stopping) void stopAll(`${name} exited`);
  });
}
process.on("SIGINT", () => void stopAll("SIGINT"));
process.on("SIGTERM", () => void stopAll("SIGTERM"));
