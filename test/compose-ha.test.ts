import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnv } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { envSchema as apiEnv } from "../services/api/src/config.js";
import { repoRoot } from "./support/processes.js";

type Service = { environment?: Record<string, string>; entrypoint?: string[]; command?: string[] };

/** docker-compose.ha.yml as compose reads it (YAML with merge keys, `${VAR}` filled in). */
function loadHa(env: Record<string, string>): Record<string, Service> {
  const raw = readFileSync(join(repoRoot, "docker-compose.ha.yml"), "utf8")
    .replace(/\$\{(\w+)(?::[-?][^}]*)?\}/g, (_, name: string) => env[name] ?? "")
    .replace(/\$\$/g, () => "$");
  return (parse(raw, { merge: true }) as { services: Record<string, Service> }).services;
}

describe("docker-compose.ha.yml: Redis with a replica and three Sentinels", () => {
  const env = { HOIST_REDIS_PASSWORD_ADMIN: "admin-password-0123456789", HOIST_REDIS_SENTINEL_PASSWORD: "sentinel-password-012345" };
  const services = loadHa(env);

  it("points every Hoist service at the three Sentinels, with their password, in a form the services' env schema accepts", () => {
    for (const name of ["api", "builder", "deployer", "notifier"]) {
      const e = services[name]?.environment ?? {};
      expect(e.REDIS_SENTINEL_NAME, name).toBe("hoist");
      expect(e.REDIS_SENTINEL_PASSWORD, name).toBe(env.HOIST_REDIS_SENTINEL_PASSWORD);
      const sentinels = (e.REDIS_SENTINELS ?? "").split(",");
      expect(sentinels, name).toHaveLength(3);
      const parsed = parseEnv(apiEnv, {
        HOIST_API_TOKEN: "x".repeat(32),
        REDIS_SENTINELS: e.REDIS_SENTINELS,
        REDIS_SENTINEL_NAME: "hoist",
      });
      expect(parsed.REDIS_SENTINELS).toHaveLength(3);
    }
    // The host-networked deployer reaches the Sentinels on their published loopback ports.
    const published = ["sentinel-1", "sentinel-2", "sentinel-3"].map(
      (s) => (services[s] as { ports?: string[] }).ports?.[0]?.split(":")[1],
    );
    expect(services.deployer?.environment?.REDIS_SENTINELS).toBe(published.map((p) => `127.0.0.1:${p}`).join(","));
  });

  it("runs three Sentinels monitoring the master under that name with quorum 2 and their own password, and a replica of the master", () => {
    for (const s of ["sentinel-1", "sentinel-2", "sentinel-3"]) {
      const script = (services[s]?.entrypoint ?? []).join(" ");
      expect(script).toMatch(/sentinel monitor hoist redis 6379 2/);
      expect(script).toMatch(/requirepass \$HOIST_REDIS_SENTINEL_PASSWORD/);
      expect(script).toMatch(/sentinel auth-pass hoist \$HOIST_REDIS_PASSWORD_ADMIN/);
      expect(services[s]?.environment?.HOIST_REDIS_SENTINEL_PASSWORD).toBe(env.HOIST_REDIS_SENTINEL_PASSWORD);
    }
    const replica = services["redis-replica"]?.command ?? [];
    expect(replica.join(" ")).toMatch(/--replicaof redis 6379 --masteruser default --masterauth admin-password-0123456789/);
    expect(replica).toContain("noeviction");
    expect((services.redis?.command ?? []).join(" ")).toMatch(/--masterauth admin-password-0123456789/);
  });
});
