import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type ServiceProcess, startService } from "./support/processes.js";

const redisUrl = () => process.env.REDIS_URL as string;
const running: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop("SIGKILL")));
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

function start(name: string, env: Record<string, string> = {}) {
  const p = startService(name, {
    REDIS_URL: redisUrl(),
    HOIST_QUEUE_PREFIX: `test-svc-${name}`,
    HOIST_DATA_DIR: "/tmp/hoist-svc-test",
    ...env,
  });
  running.push(p);
  return p;
}

describe("service processes", () => {
  it("api answers /healthz and /readyz, and exits 143 within 2 s of SIGTERM", async () => {
    const port = await freePort();
    const api = start("api", { HOIST_PORT: String(port), HOIST_HOST: "127.0.0.1", HOIST_API_TOKEN: "t".repeat(32) });
    await api.waitForLog(/"msg":"ready"/);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    const { code, ms } = await api.stop();
    expect(code).toBe(143);
    expect(ms).toBeLessThan(2_000);
  });

  it.each(["builder", "deployer", "notifier"])("%s starts a worker and exits 143 within 2 s of SIGTERM", async (name) => {
    const port = await freePort();
    const svc = start(name, { HOIST_CONCURRENCY: "3", HOIST_HEALTH_PORT: String(port), HOIST_HEALTH_HOST: "127.0.0.1" });
    const ready = await svc.waitForLog(/"msg":"ready"/);
    expect(JSON.parse(ready)).toMatchObject({ concurrency: 3, service: name });
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const { code, ms } = await svc.stop();
    expect(code).toBe(143);
    expect(ms).toBeLessThan(2_000);
  });

  it("stops at once with one line naming a malformed variable", async () => {
    const svc = start("builder", { HOIST_CONCURRENCY: "0" });
    const { code } = await svc.exited;
    expect(code).toBe(78);
    expect(svc.lines).toEqual(["config: HOIST_CONCURRENCY is invalid: at least 1"]);
  });
});
