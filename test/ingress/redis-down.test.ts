import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushPayload } from "../support/api/fixtures.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { deliver } from "./webhook-helpers.js";

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A Redis of this test's own (the shared one must keep running for the other tests), then stopped. */
describe("webhook while Redis is unreachable", () => {
  let redis: ChildProcess;
  let h: ApiHarness;
  let hook: string;
  let token: string;

  beforeAll(async () => {
    const port = await freePort();
    const dir = mkdtempSync(`${tmpdir()}/hoist-redis-down-`);
    redis = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve) =>
      redis.stdout?.on("data", (d: Buffer) => /Ready to accept connections/.test(d.toString()) && resolve()),
    );
    h = await startApi({ redisUrl: `redis://127.0.0.1:${port}` });
    const res = await h.api("POST", "/apps", { name: "web", repo: { sshUrl: "git@h:a/web.git" } });
    hook = `${h.url}${new URL(res.body.webhook.url).pathname}`;
    token = res.body.webhook.token;
    expect((await deliver(hook, { event: "Push Hook", token, body: pushPayload() })).status).toBe(202);
  });
  afterAll(async () => {
    if (redis.exitCode === null) redis.kill("SIGKILL");
    await h?.close();
  });

  it("answers 503 within 100 ms, never a 2xx and never a hang", async () => {
    const exited = once(redis, "exit");
    redis.kill("SIGKILL");
    await exited;
    for (let i = 0; i < 5; i++) {
      const res = await deliver(hook, { event: "Push Hook", token, body: pushPayload() });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("unavailable");
      expect(res.ms).toBeLessThan(100);
    }
    const api = await h.api("GET", "/apps");
    expect(api.status).toBe(503);
  });
});
