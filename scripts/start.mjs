#!/usr/bin/env node
// `pnpm start`: the whole job on one machine. Builds what is stale (showing turbo's progress),
// then finds or starts what the services need: Redis (private unless REDIS_URL), a Docker Engine
// API (DOCKER_HOST, Docker's or podman's socket, else a private `podman system service`) and a
// registry (HOIST_REGISTRY, else a private one), and runs the four services as separate processes
// with prefixed logs. What it cannot find it says in one line; the rest still runs. Ctrl-C (or
// SIGTERM) reaches each service once; they stop gracefully, then what was started for them.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { wireEngineAndRegistry } from "./start/engine.mjs";
import { workerKeyrings } from "./start/keyrings.mjs";
import { say } from "./start/output.mjs";
import { freePort, portProblem } from "./start/ports.mjs";
import { startRedis } from "./start/redis.mjs";
import { Supervisor } from "./start/supervisor.mjs";

const root = resolve(import.meta.dirname, "..");
const services = ["api", "builder", "deployer", "notifier"];
const EX_CONFIG = 78;
const supervisor = new Supervisor();
let exitCode = 0;
let tokenFile;

async function shutdown(reason, code) {
  const signal = reason.startsWith("SIG") ? reason : "SIGTERM";
  if (supervisor.stopping) {
    // A second Ctrl-C: passed on (the services stop without waiting); the first call still exits.
    await supervisor.stopAll(signal);
    return;
  }
  say("start", `stopping (${reason})`);
  exitCode = code;
  await supervisor.stopAll(signal);
  say("start", "stopped");
  process.exit(exitCode);
}
// Installed first: a Ctrl-C while building or starting stops what was started so far.
process.on("SIGINT", () => void shutdown("SIGINT", 0));
process.on("SIGTERM", () => void shutdown("SIGTERM", 0));

/** After a Ctrl-C during the build or the start-up, shutdown() owns the exit: start nothing more. */
async function haltIfStopping() {
  if (supervisor.stopping) await new Promise(() => {});
}

const env = { ...process.env };
for (const [k, v] of Object.entries(env)) if (v === "") delete env[k];
env.HOIST_DATA_DIR = resolve(env.HOIST_DATA_DIR ?? join(root, ".hoist"));
env.HOIST_PORT ??= "8080";
// One machine: an app's repository may be a directory here (hoist apps create --repo <path>).
env.HOIST_LOCAL_REPOS ??= "true";
env.HOIST_HOST ??= "0.0.0.0";

// A taken port is found before a minute of building, and said in one line.
const problem = await portProblem(Number(env.HOIST_PORT), env.HOIST_HOST);
if (problem) {
  const what = problem === "EADDRINUSE" ? "is taken by another process" : `cannot be used (${problem})`;
  say("start", `port ${env.HOIST_PORT} on ${env.HOIST_HOST} ${what}: set HOIST_PORT to a free port (or stop what holds it)`);
  process.exit(EX_CONFIG);
}

say("start", "building (turbo skips what is up to date; a first build takes a minute or so)");
const t0 = Date.now();
// new-only: each package's build shows as it starts, with its compiler's output; cached ones stay quiet.
const built = await supervisor.build(join(root, "node_modules", ".bin", "turbo"), ["run", "build", "--output-logs=new-only"], root);
await haltIfStopping();
if (built !== 0) {
  say("start", "the build failed (see above); fix it and run pnpm start again");
  process.exit(1);
}
say("start", `built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

if (!env.HOIST_API_TOKEN) {
  // A first run on a fresh machine gets an API token of its own, kept (0600) for the next runs.
  const file = join(env.HOIST_DATA_DIR, "api-token");
  mkdirSync(env.HOIST_DATA_DIR, { recursive: true });
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  env.HOIST_API_TOKEN = readFileSync(file, "utf8").trim();
  tokenFile = file;
  say("start", `HOIST_API_TOKEN is unset: using the token kept in ${file} (mode 0600); sign in and call the API with it`);
}

const started = [];
// Each service's own Redis user, when the Redis is ours; an operator's REDIS_URL is used as it is.
let redisUsers = {};
if (!env.REDIS_URL) {
  const redis = await startRedis(supervisor, env.HOIST_DATA_DIR, env.HOIST_QUEUE_PREFIX ?? "hoist", say);
  if (!redis) await shutdown("no Redis", 1);
  env.REDIS_URL = redis.url;
  redisUsers = redis.users;
  started.push(`Redis at ${redis.url} (data in ${env.HOIST_DATA_DIR}/redis; a user per service, passwords in ${redis.aclFile}.env)`);
}
started.push(...(await wireEngineAndRegistry(env, supervisor, say)));
// The local target serves apps through Caddy: the deployer starts Debian's `caddy` itself unless HOIST_CADDY_ADMIN_URL names one.
if (!env.HOIST_CADDY_ADMIN_URL && spawnSync("sh", ["-c", "command -v caddy"]).status !== 0)
  say(
    "start",
    "caddy is not installed: local-target deploys fail until it is (sudo apt-get install -y caddy), or set HOIST_CADDY_ADMIN_URL",
  );
// Apps' host names (previews' mr-<iid>.<app>.localhost, `hosts`) through Caddy: on one machine,
// plain HTTP on loopback, where the deployer's default (:443, TLS) needs root and a certificate.
if (!env.HOIST_CADDY_HOSTS_LISTEN) {
  const port = (await portProblem(8000, "127.0.0.1")) ? await freePort() : 8000;
  env.HOIST_CADDY_HOSTS_LISTEN = `127.0.0.1:${port}`;
  env.HOIST_CADDY_HOSTS_HTTP ??= "true";
  started.push(`apps' host names (previews: http://mr-<iid>.<app>.localhost:${port}) served by Caddy on 127.0.0.1:${port}`);
}
await haltIfStopping();

// Each worker's /healthz on a loopback port of its own: it says which dependency is down.
const health = {};
for (const name of ["builder", "deployer", "notifier"])
  health[name] = env[`HOIST_${name.toUpperCase()}_HEALTH_PORT`] ?? String(await freePort());

const keyrings = await workerKeyrings(root, env).catch(async (err) => {
  say("start", `cannot write the workers' keyrings: ${err.message}`);
  await shutdown("no keyrings", EX_CONFIG);
});
const ready = new Set();
for (const name of services) {
  const childEnv = { ...env, ...(redisUsers[name] ? { REDIS_URL: redisUsers[name] } : {}) };
  if (keyrings[name]) {
    childEnv.HOIST_KEYRING_FILE = keyrings[name];
    delete childEnv.HOIST_MASTER_KEY_FILE;
  }
  if (health[name]) Object.assign(childEnv, { HOIST_HEALTH_PORT: health[name], HOIST_HEALTH_HOST: "127.0.0.1" });
  supervisor.run(name, process.execPath, [join(root, "services", name, "dist", "main.js")], {
    env: childEnv,
    onLine: (line) => {
      if (ready.has(name) || !/"msg":"ready"/.test(line)) return;
      ready.add(name);
      if (ready.size === services.length) announce();
    },
    onExit: (code, signal) => {
      say("start", `${name} exited (${signal ?? code})`);
      // A service that cannot start (78: its configuration, a port) stops the stack with its code.
      if (!supervisor.stopping) void shutdown(`${name} exited`, code === EX_CONFIG ? EX_CONFIG : 1);
    },
  });
}

function announce() {
  const host = env.HOIST_HOST === "0.0.0.0" || env.HOIST_HOST === "::" ? "localhost" : env.HOIST_HOST;
  say("start", "started for this run:");
  for (const line of started) say("start", `  ${line}`);
  say(
    "start",
    `Hoist is up: dashboard and API at http://${host}:${env.HOIST_PORT} (token ${tokenFile ? `in ${tokenFile}` : "from HOIST_API_TOKEN"})`,
  );
  for (const [name, port] of Object.entries(health)) say("start", `  ${name} health: http://127.0.0.1:${port}/healthz`);
  say("start", "Ctrl-C stops everything");
}
