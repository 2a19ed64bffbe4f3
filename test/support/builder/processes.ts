import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ServiceProcess, startService } from "../processes.js";
import type { BuilderWorld } from "./world.js";

/** Builder processes (services/builder/dist/main.js) for a test world: same Redis prefix, master key and work dir. */
export function builderProcesses(world: BuilderWorld) {
  const keyDir = mkdtempSync(join(tmpdir(), "hoist-key-"));
  const keyFile = join(keyDir, "master.key");
  writeFileSync(keyFile, world.masterKey.toString("base64"), { mode: 0o600 });
  const procs: ServiceProcess[] = [];
  return {
    start(extra: Record<string, string> = {}): ServiceProcess {
      const env: Record<string, string> = {
        REDIS_URL: process.env.REDIS_URL as string,
        DOCKER_HOST: process.env.DOCKER_HOST as string,
        HOIST_QUEUE_PREFIX: world.prefix,
        HOIST_REGISTRY: world.registry,
        HOIST_REGISTRY_INSECURE: "true",
        HOIST_MASTER_KEY_FILE: keyFile,
        HOIST_WORK_DIR: world.workDir,
        HOIST_CONCURRENCY: "1",
        ...extra,
      };
      for (const k of ["CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"]) {
        if (process.env[k]) env[k] = process.env[k] as string;
      }
      const p = startService("builder", env);
      procs.push(p);
      return p;
    },
    async stopAll(): Promise<void> {
      for (const p of procs) await p.stop("SIGKILL").catch(() => undefined);
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}
