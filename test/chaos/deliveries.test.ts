import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DELIVERY_TTL_MS } from "../../services/api/src/domain/deliveries.js";
import { deliver } from "../ingress/webhook-helpers.js";
import { pushPayload, sha } from "../support/api/fixtures.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";

const HOUR_MS = 3600 * 1000;

/** Scenario 4: duplicate and racing deliveries at the webhook (API in-process over the test Redis). */
describe("chaos 4: duplicate and racing deliveries", () => {
  let h: ApiHarness;
  let hook: string;
  let token: string;

  beforeAll(async () => {
    h = await startApi();
    const res = await h.api("POST", "/apps", { name: "dup", repo: { sshUrl: "git@h:a/dup.git" } });
    hook = `${h.url}${new URL(res.body.webhook.url).pathname}`;
    token = res.body.webhook.token;
  });
  afterAll(async () => {
    await h?.close();
  });

  const builds = async () =>
    (await h.api("GET", "/apps/dup/builds")).body.builds as { id: string; sha: string; status: string; reason?: string }[];

  it("the same delivery 10 times at once, again an hour later (the API's clock moved), and past the 48 h window", async () => {
    const key = crypto.randomUUID();
    const body = pushPayload();
    const before = (await builds()).length;
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => deliver(hook, { event: "Push Hook", token, idempotencyKey: key, body })),
    );
    const accepted = burst.filter((r) => r.status === 202);
    const dups = burst.filter((r) => r.status === 200 && r.body.status === "duplicate");
    expect(accepted).toHaveLength(1);
    expect(dups).toHaveLength(9);
    for (const d of dups) expect(d.body.buildId).toBe(accepted[0]?.body.buildId);
    // The dedupe key expires at an absolute time on the API's clock (48 h on).
    const [dedupeKey] = await h.redis.keys(`${h.prefix}:rec:hook:*:delivery:*`);
    const expiresInH = ((await h.redis.pexpiretime(dedupeKey as string)) - Date.now()) / HOUR_MS;
    expect(expiresInH).toBeGreaterThan(47.9);
    // GitLab resends: the API's clock (deps.now) moved on, Redis untouched.
    const resend = async (offsetMs: number) => {
      h.clock.offsetMs = offsetMs;
      try {
        return await deliver(hook, { event: "Push Hook", token, idempotencyKey: key, body });
      } finally {
        h.clock.offsetMs = 0;
      }
    };
    const later = await resend(HOUR_MS);
    expect(later).toMatchObject({ status: 200, body: { status: "duplicate", buildId: accepted[0]?.body.buildId } });
    const lastMinute = await resend(DELIVERY_TTL_MS - 60_000);
    expect(lastMinute).toMatchObject({ status: 200, body: { status: "duplicate", buildId: accepted[0]?.body.buildId } });
    const within = (await builds()).length - before;
    expect(within).toBe(1);
    // Past the window the same delivery is a new one: built again.
    const past = await resend(DELIVERY_TTL_MS + 60_000);
    expect(past.status).toBe(202);
    expect(past.body.buildId).not.toBe(accepted[0]?.body.buildId);
    const after = await builds();
    expect(after.length - before).toBe(2);
    expect((await h.deps.queues.queue("build").getJobCounts("waiting")).waiting).toBe(after.length);
    console.log(
      `chaos 4 duplicates: 10 concurrent deliveries → ${accepted.length} 202 + ${dups.length} duplicate (max ${Math.round(Math.max(...burst.map((r) => r.ms)))} ms); ` +
        `dedupe key expires in ${expiresInH.toFixed(2)} h; resend with the API's clock 1 h later → ${later.body.status}, 47 h 59 min later → ${lastMinute.body.status} ` +
        `(builds added: ${within}); 48 h 1 min later → ${past.status} (a new build)`,
    );
  });

  it("two pushes to one branch within 10 ms, in either arrival order: only the newer commit's build stays", async () => {
    const outcomes: string[] = [];
    for (const order of ["in order", "newer first"] as const) {
      const base = sha();
      const older = pushPayload({ before: base });
      const newer = pushPayload({ before: older.after });
      const [first, second] = order === "in order" ? [older, newer] : [newer, older];
      const t0 = performance.now();
      const sends = [deliver(hook, { event: "Push Hook", token, body: first })];
      await new Promise((r) => setTimeout(r, 3));
      sends.push(deliver(hook, { event: "Push Hook", token, body: second }));
      const answers = await Promise.all(sends);
      const gap = performance.now() - t0;
      for (const a of answers) expect(a.status).toBe(202);
      const all = await builds();
      const olderBuild = all.find((b) => b.sha === older.after);
      const newerBuild = all.find((b) => b.sha === newer.after);
      expect(newerBuild?.status).toBe("queued");
      expect(olderBuild).toMatchObject({ status: "canceled", reason: "superseded" });
      outcomes.push(`${order}: newer ${newerBuild?.status}, older ${olderBuild?.status} (both answered in ${Math.round(gap)} ms)`);
    }
    console.log(`chaos 4 racing pushes: ${outcomes.join("; ")}`);
  });
});
