import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";

/**
 * Gives the test run real components. With REDIS_URL (and DOCKER_HOST, ...) already set, it uses
 * them as they are. Otherwise it runs scripts/services-up.sh, which installs and starts Redis,
 * podman's Docker API, a registry and an sshd on loopback, and stops them afterwards. On a
 * machine with a Docker engine but neither redis-server nor a way to install it, Redis comes
 * from testcontainers.
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
        env: { ...process.env, W: dir, SERVICES: process.env.HOIST_TEST_SERVICES ?? "redis podman registry sshd chromium" },
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
      const container = await new RedisContainer("redis:7")
        .withCommand(["redis-server", "--maxmemory-policy", "noeviction", "--appendonly", "yes"])
        .start();
      process.env.REDIS_URL = container.getConnectionUrl();
      stopServices = async () => {
        await container.stop();
      };
    }
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
