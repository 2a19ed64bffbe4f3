import { afterAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApi } from "../support/api/harness.js";

describe("the API's /metrics", () => {
  const harnesses: ApiHarness[] = [];
  afterAll(async () => {
    for (const h of harnesses) await h.close();
  });
  const start = async (env: Record<string, string>) => {
    const h = await startApi({ env });
    harnesses.push(h);
    return h;
  };
  const token = "metrics-token-0123456789abcdef";

  it("needs HOIST_METRICS_TOKEN as a bearer token when one is set", async () => {
    const h = await start({ HOIST_METRICS_TOKEN: token });
    const none = await fetch(`${h.url}/metrics`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { message: string } }).error.message).toBe(
      "missing or wrong metrics token: send Authorization: Bearer <HOIST_METRICS_TOKEN>",
    );
    expect((await fetch(`${h.url}/metrics`, { headers: { authorization: "Bearer wrong-token-wrong-token" } })).status).toBe(401);
    const ok = await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("hoist_queue_jobs");
  });

  it("without a token, is refused on an API listening beyond loopback and served on one bound to loopback", async () => {
    const open = await start({ HOIST_HOST: "0.0.0.0" });
    const refused = await fetch(`${open.url}/metrics`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /not served on 0\.0\.0\.0 without a token: set HOIST_METRICS_TOKEN/,
    );
    const local = await start({ HOIST_HOST: "127.0.0.1" });
    expect((await fetch(`${local.url}/metrics`)).status).toBe(200);
  });
});
