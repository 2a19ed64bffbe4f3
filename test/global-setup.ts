import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { aclFile, SERVICE_USERS } from "../packages/shared/src/redis/acl.js";

/**
 * Gives the test run real components. With REDIS_URL (and DOCKER_HOST, ...) already set, it uses
 * them as they are. Otherwise it runs scripts/services-up.sh, which installs and starts Redis,
 * podman's Docker API, a registry and an sshd on loopback, and stops them afterwards. On a
 * machine with a Docker engine but neither redis-server nor a way to install it, Redis comes
 * from testcontainers. Either way the Redis started here has the services' ACL users (all
 * prefixes): REDIS_URL is the admin's, and test/support/processes.ts runs each service process as
 * its own user with the passwords in HOIST_REDIS_PASSWORD_<USER>.
 *
 * With HOIST_TEST_REDIS=cluster (`pnpm test:cluster`) the tests run on a Redis Cluster instead: three
 * masters with a replica each (test/support/redis-cluster.ts) with the same users; REDIS_URL is its
 * admin on a replica (one server's client gets MOVED for every key) and REDIS_CLUSTER_NODES lists the nodes, which the test helpers
 * (@hoist/shared/testing) and the service processes (test/support/processes.ts) connect through.
 */
const root = resolve(import.meta.dirname, "..");
let stopServices: (() => Promise<void>) | undefined;

function canRunServicesUp(): boolean {
  if (process.getuid?.() === 0) return true;
  if (spawnSync("sh", ["-c", "command -v redis-server"]).status === 0) return true;
  return spawnSync("sudo", ["-n", "true"]).status === 0;
}

export async function setup(project: TestProject): Promise<void> {
  if (!process.env.REDIS_URL) {
    if (canRunServicesUp()) {
      const dir = mkdtempSync(join(tmpdir(), "hoist-test-services-"));
      const out = execFileSync("bash", [join(root, "scripts/services-up.sh")], {
        env: { ...process.env, W: dir, SERVICES: process.env.HOIST_TEST_SERVICES ?? "redis podman registry sshd caddy chromium" },
        stdio: ["ignore", "pipe", "inherit"],
        encoding: "utf8",
      });
      for (const m of out.matchAll(/^export (\w+)="(.*)"$/gm)) process.env[m[1] as string] = m[2];
      stopServices = async () => {
        execFileSync("bash", [join(root, "scripts/services-down.sh")], { env: { ...process.env, W: dir }, stdio: "ignore" });
      };
    } else {
      const { RedisContainer } = await import("@testcontainers/redis");
      process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
      const passwords = { admin: randomBytes(24).toString("hex") } as Parameters<typeof aclFile>[1];
      for (const s of SERVICE_USERS) passwords[s] = randomBytes(24).toString("hex");
      for (const [who, pw] of Object.entries(passwords)) process.env[`HOIST_REDIS_PASSWORD_${who.toUpperCase()}`] = pw;
      const container = await new RedisContainer("redis:7")
        .withCopyContentToContainer([{ content: aclFile("*", passwords), target: "/etc/redis/users.acl", mode: 0o644 }])
        .withCommand(["redis-server", "--maxmemory-policy", "noeviction", "--appendonly", "yes", "--aclfile", "/etc/redis/users.acl"])
        .start();
      process.env.REDIS_URL = `redis://default:${passwords.admin}@${container.getHost()}:${container.getMappedPort(6379)}`;
      stopServices = async () => {
        await container.stop();
      };
    }
  }
  if (process.env.HOIST_TEST_REDIS === "cluster") {
    const { RedisClusterSet } = await import("./support/redis-cluster.js");
    const cluster = new RedisClusterSet();
    const previous = stopServices;
    stopServices = async () => {
      await cluster.remove();
      await previous?.();
    };
    await cluster.start();
    process.env.REDIS_URL = await cluster.replicaAdminUrl();
    process.env.REDIS_CLUSTER_NODES = cluster.nodeList;
  }
  project.provide("redisUrl", process.env.REDIS_URL as string);
}

export async function teardown(): Promise<void> {
  await stopServices?.();
}

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
