import { createRedis, type Redis, serviceRedisUrl, waitForRedis } from "@hoist/shared";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort, PrivateRedis } from "./chaos/private-redis.js";
import { type ServiceProcess, startService } from "./support/processes.js";
import { suitePasswords } from "./support/redis-acl.js";

const SERVICES = ["api", "builder", "deployer", "notifier"] as const;

/**
 * Service processes on a Redis with the services' ACL users: each runs as its own user, and a
 * wrong or missing password stops it at once with a line that says what failed and what to do.
 * A Redis of this file's own, so that its client list holds only these processes' connections.
 */
describe("service processes as Redis ACL users", () => {
  let redis: PrivateRedis;
  let admin: Redis;
  const running: ServiceProcess[] = [];

  beforeAll(async () => {
    expect(suitePasswords(), "the suite's Redis has no ACL users (HOIST_REDIS_PASSWORD_* unset)").toBeDefined();
    redis = new PrivateRedis(await freePort());
    await redis.start();
    admin = createRedis(redis.url, "producer");
    await waitForRedis(admin);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop("SIGKILL")));
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.remove();
  });

  function start(name: string, env: Record<string, string>): ServiceProcess {
    const p = startService(name, {
      HOIST_QUEUE_PREFIX: `test-users-${name}`,
      HOIST_DATA_DIR: "/tmp/hoist-users-test",
      HOIST_HOST: "127.0.0.1",
      HOIST_API_TOKEN: "t".repeat(32),
      HOIST_HEALTH_HOST: "127.0.0.1",
      ...env,
    });
    running.push(p);
    return p;
  }

  const clientUsers = async () => {
    const list = (await admin.client("LIST")) as string;
    return list
      .trim()
      .split("\n")
      .map((l) => /\buser=(\S+)/.exec(l)?.[1])
      .filter((u) => u !== "default");
  };

  it.each(SERVICES)("%s, given the admin URL, connects as its own user only", async (name) => {
    const port = String(await freePort());
    const svc = start(name, { REDIS_URL: redis.url, HOIST_PORT: port, HOIST_HEALTH_PORT: port });
    await svc.waitForLog(/"msg":"ready"/, 30_000);
    const users = await clientUsers();
    expect(users.length).toBeGreaterThan(0);
    expect(new Set(users)).toEqual(new Set([`hoist-${name}`]));
  });

  it.each(["api", "builder"])("%s with a wrong password: exit 78 and one line that says what failed and what to do", async (name) => {
    const wrong = "not-the-password-0123456789";
    const svc = start(name, {
      REDIS_URL: serviceRedisUrl(redis.url, name as "api" | "builder", wrong),
      HOIST_PORT: String(await freePort()),
    });
    const { code } = await svc.exited;
    expect(code).toBe(78);
    const plain = svc.lines.filter((l) => !l.startsWith("{"));
    expect(plain).toEqual([
      `Redis refused user "hoist-${name}" with the password in REDIS_URL (WRONGPASS invalid username-password pair or user is disabled.): ` +
        "set REDIS_URL to redis://<user>:<password>@host:port with this service's user and password (pnpm start and docker compose: " +
        "HOIST_REDIS_PASSWORD_<SERVICE>, written by node scripts/redis-acl.mjs <acl-file> <prefix>, whose ACL file Redis must load with --aclfile)",
    ]);
    expect(svc.lines.join("\n")).not.toContain(wrong);
  });

  it("a worker without a password: exit 78, told that Redis asks for one", async () => {
    const svc = start("notifier", { REDIS_URL: `redis://127.0.0.1:${redis.port}`, HOIST_HEALTH_PORT: String(await freePort()) });
    const { code } = await svc.exited;
    expect(code).toBe(78);
    expect(svc.lines.filter((l) => !l.startsWith("{"))[0]).toMatch(
      /^Redis asks for a password and REDIS_URL has none \(.*NOAUTH.*\): set REDIS_URL to /,
    );
  });
});
