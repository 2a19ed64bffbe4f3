import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { asKeyringHolder } from "./keyrings.js";
import { asServiceUser } from "./redis-acl.js";

export const repoRoot = resolve(import.meta.dirname, "..", "..");

export interface ServiceProcess {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first log line whose msg matches. */
  waitForLog(match: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/**
 * Starts a built service (`services/<name>/dist/main.js`) as its own process, as `pnpm start` does.
 * On the suite's Redis (an admin REDIS_URL) the service runs as its own ACL user, as in production.
 */
export function startService(name: string, env: Record<string, string>, opts: { script?: string } = {}): ServiceProcess {
  const own: Record<string, string> = env.REDIS_URL ? { REDIS_URL: asServiceUser(name, env.REDIS_URL) } : {};
  // On the suite's Redis Cluster (pnpm test:cluster) a service on the suite's Redis connects to the cluster.
  if (process.env.REDIS_CLUSTER_NODES && env.REDIS_URL === process.env.REDIS_URL && !env.REDIS_SENTINELS && !env.REDIS_CLUSTER_NODES)
    own.REDIS_CLUSTER_NODES = process.env.REDIS_CLUSTER_NODES;
  // A worker holds its keyring, never the master key, as in production (pnpm start, compose).
  const keyring = asKeyringHolder(name, env);
  if (keyring) Object.assign(own, keyring);
  // The test registry takes tokens only (scripts/services-up.sh): the builder and the deployer
  // derive their registry users from its secret, as they do in production; a test may override it.
  const secretFile = process.env.HOIST_REGISTRY_SECRET_FILE;
  const registry: Record<string, string> = {};
  if (secretFile && (name === "builder" || name === "deployer")) registry.HOIST_REGISTRY_SECRET_FILE = secretFile;
  if (name === "builder" && process.env.HOIST_REGISTRY_BASE_REPOS)
    registry.HOIST_REGISTRY_BASE_REPOS = process.env.HOIST_REGISTRY_BASE_REPOS;
  if (secretFile && name === "deployer" && process.env.HOIST_TEST_REGISTRY) registry.HOIST_REGISTRY = process.env.HOIST_TEST_REGISTRY;
  // Deployers on one host share one Caddy (each app's port is Caddy's), as in production: services-up.sh's.
  if (name === "deployer" && process.env.HOIST_CADDY_ADMIN_URL) registry.HOIST_CADDY_ADMIN_URL = process.env.HOIST_CADDY_ADMIN_URL;
  // `script`: another entry that boots the service's main.js (bench/pipeline/service-process.mjs injects an instant build or rollout).
  const child = spawn(process.execPath, [opts.script ?? resolve(repoRoot, "services", name, "dist", "main.js")], {
    // Outbound calls from tests go to 127.0.0.1 only: that is all a service started here may reach.
    env: withoutMasterKeyIfKeyring({
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      HOIST_OUTBOUND_ALLOW: "127.0.0.1",
      ...registry,
      ...env,
      ...own,
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { match: RegExp; resolve: (l: string) => void }[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once("exit", (code, signal) => res({ code, signal })),
  );
  return {
    child,
    lines,
    exited,
    waitForLog(match, timeoutMs = 15_000) {
      const seen = lines.find((l) => match.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const timer = setTimeout(
          () => rej(new Error(`${name}: no log line matching ${match} within ${timeoutMs} ms:\n${lines.join("\n")}`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            res(l);
          },
        });
        void exited.then(({ code }) => rej(new Error(`${name} exited (${code}) before logging ${match}:\n${lines.join("\n")}`)));
      });
    },
    async stop(signal = "SIGTERM") {
      const t0 = performance.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const { code } = await exited;
      return { code, ms: performance.now() - t0 };
    },
  };
}

/** A worker given its keyring is not given the master key too. */
function withoutMasterKeyIfKeyring(env: Record<string, string>): Record<string, string> {
  if (!env.HOIST_KEYRING_FILE) return env;
  const { HOIST_MASTER_KEY_FILE: _master, ...rest } = env;
  return rest;
}
