import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApi } from "../support/api/harness.js";

/** The API while Sentinel fails the master over (ApiDeps.failover: the FailoverWatch of services/api/src/main.ts). */
describe("API during a Redis failover", () => {
  let h: ApiHarness;
  const watch = { failing: false, failovers: 0, inProgress: () => watch.failing, epoch: () => watch.failovers };
  beforeAll(async () => {
    h = await startApi();
    h.deps.failover = watch;
  });
  afterAll(async () => {
    await h?.close();
  });

  it("answers every request but /healthz 503 within 100 ms while a failover is under way, and accepts again once a master is known", async () => {
    watch.failing = true;
    for (const path of ["/v1/apps", "/webhooks/gitlab/hook_x", "/readyz"]) {
      const t0 = performance.now();
      const res = await fetch(`${h.url}${path}`, {
        method: path.startsWith("/webhooks") ? "POST" : "GET",
        body: path.startsWith("/webhooks") ? "{}" : undefined,
      });
      const ms = performance.now() - t0;
      expect(res.status, path).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(await res.json()).toEqual({
        error: { code: "unavailable", message: "Redis is failing over; nothing was stored, try again shortly" },
      });
      expect(ms, path).toBeLessThan(100);
    }
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    watch.failing = false;
    expect((await h.api("GET", "/apps")).status).toBe(200);
  });

  it("answers 503, not success, when a failover began while the request ran (what it stored may be dropped)", async () => {
    // The failover begins while the request is being handled: its epoch changes after it was read.
    let reads = 0;
    h.deps.failover = { inProgress: () => false, epoch: () => (reads++ === 0 ? 0 : 1) };
    const res = await h.api("POST", "/apps", { name: "during-failover", branch: "main", repo: { sshUrl: "git@127.0.0.1:acme/web.git" } });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("unavailable");
    // An error answer stays as it was.
    reads = 0;
    expect((await h.api("GET", "/apps/nope")).status).toBe(404);
    h.deps.failover = watch;
  });
});
