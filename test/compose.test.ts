import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { freePort } from "./support/net.js";
import { repoRoot } from "./support/processes.js";

type Service = { command?: string[]; environment?: Record<string, string>; volumes?: string[]; healthcheck?: { test: string[] } };

/** Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?error}` (the forms docker-compose.yml uses). */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
    const value = env[name];
    if (value) return value;
    if (op === "?") throw new Error(`required variable ${name} is missing a value: ${arg}`);
    return op === "-" ? (arg ?? "") : "";
  });
}

function loadCompose(env: Record<string, string>): Record<string, Service> {
  const raw = readFileSync(join(repoRoot, "docker-compose.yml"), "utf8");
  return (parse(interpolate(raw, env), { merge: true }) as { services: Record<string, Service> }).services;
}

/**
 * docker-compose.yml's Redis and its users, without Docker: the file as compose reads it (YAML,
 * merge keys, interpolation), the ACL file made the documented way, and a redis-server run with
 * the compose service's own command, reached with each service's REDIS_URL.
 */
describe("docker-compose.yml: Redis with a user per service", () => {
  const dir = mkdtempSync(join(tmpdir(), "hoist-compose-"));
  const aclPath = join(dir, "users.acl");
  let env: Record<string, string>;
  let redis: ChildProcess;
  let port: number;

  beforeAll(async () => {
    // The documented step (see the top of docker-compose.yml).
    execFileSync(process.execPath, [join(repoRoot, "scripts", "redis-acl.mjs"), aclPath, "hoist"], { stdio: "ignore" });
    env = { HOIST_API_TOKEN: "a-long-random-api-token-0123456789" };
    for (const m of readFileSync(`${aclPath}.env`, "utf8").matchAll(/^export (\w+)="([^"]+)"$/gm)) env[m[1] as string] = m[2] as string;
    const services = loadCompose(env);
    // Compose's own command for Redis, with the file at the path the volume mounts it on.
    const mounted = services.redis?.volumes?.find((v) => v.endsWith(":/etc/redis/users.acl:ro"));
    expect(mounted).toBe("./.hoist/redis/users.acl:/etc/redis/users.acl:ro");
    const command = (services.redis?.command ?? []).map((a) => (a === "/etc/redis/users.acl" ? aclPath : a));
    expect(command.slice(0, 1)).toEqual(["redis-server"]);
    port = await freePort();
    redis = spawn(command[0] as string, [...command.slice(1), "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      redis.stdout?.on("data", (d: Buffer) => /Ready to accept connections/.test(d.toString()) && resolve());
      redis.once("exit", (code) => reject(new Error(`redis-server exited (${code})`)));
    });
  });
  afterAll(() => {
    redis?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("the ACL file holds no password, the passwords file is the owner's alone", () => {
    const acl = readFileSync(aclPath, "utf8");
    for (const [k, pw] of Object.entries(env)) if (k.startsWith("HOIST_REDIS_PASSWORD_")) expect(acl).not.toContain(pw);
    expect(acl).toMatch(/^user hoist-notifier reset on #[0-9a-f]{64} /m);
    expect(statSync(`${aclPath}.env`).mode & 0o777).toBe(0o600);
  });

  it("each service's REDIS_URL names its own user, and Redis accepts it as that user", async () => {
    const services = loadCompose(env);
    for (const name of ["api", "builder", "deployer", "notifier"]) {
      const url = new URL(services[name]?.environment?.REDIS_URL as string);
      expect({ name, user: url.username }).toEqual({ name, user: `hoist-${name}` });
      expect(url.password).toBe(env[`HOIST_REDIS_PASSWORD_${name.toUpperCase()}`]);
      // The container's host (redis, or 127.0.0.1 for the host-networked deployer) is this Redis here.
      url.hostname = "127.0.0.1";
      url.port = String(port);
      const client = new Redis(url.toString(), { maxRetriesPerRequest: 1, retryStrategy: () => null });
      try {
        expect(await client.call("ACL", "WHOAMI")).toBe(`hoist-${name}`);
      } finally {
        client.disconnect();
      }
    }
  });

  it("the health check passes with the admin password and fails without it", () => {
    const services = loadCompose(env);
    const [kind, script] = services.redis?.healthcheck?.test ?? [];
    expect(kind).toBe("CMD-SHELL");
    const check = (auth: string) =>
      spawnSync("sh", ["-c", (script as string).replace("redis-cli", `redis-cli -p ${port}`)], {
        env: { PATH: process.env.PATH, REDISCLI_AUTH: auth },
      }).status;
    expect(check(services.redis?.environment?.REDISCLI_AUTH as string)).toBe(0);
    expect(check("not-the-admin-password")).not.toBe(0);
  });

  it("without the passwords, compose stops at once and says how to make them", () => {
    expect(() => loadCompose({ HOIST_API_TOKEN: env.HOIST_API_TOKEN as string })).toThrow(
      /HOIST_REDIS_PASSWORD_\w+ is missing a value: run node scripts\/redis-acl\.mjs/,
    );
  });
});
