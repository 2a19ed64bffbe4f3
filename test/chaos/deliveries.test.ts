import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DELIVERY_TTL_MS } from "../../services/api/src/domain/deliveries.js";
import { deliver } from "../ingress/webhook-helpers.js";
import { pushPayload, ZERO } from "../support/api/fixtures.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { removeLocalApp } from "../support/deploy/cleanup.js";
import { httpAppRepoFiles } from "../support/deploy/http-app.js";
import { dockerFromEnv } from "../support/images/base-images.js";
import { type Pipeline, startPipeline } from "./pipeline.js";
import { freePort } from "./private-redis.js";
import { untilSettled } from "./support.js";

const HOUR_MS = 3600 * 1000;
/** Rounds of racing pushes per arrival order, each built and rolled out for real. */
const RACE_ROUNDS = Number(process.env.HOIST_CHAOS_RACE_ROUNDS ?? 5);
const docker = dockerFromEnv();

/** Scenario 4, duplicates: the same delivery at the webhook (API in-process over the test Redis, its clock movable). */
describe("chaos 4: duplicate deliveries", () => {
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
});

/**
 * Scenario 4, racing pushes, to the end: the API in-process, a builder and a deployer as
 * processes, real commits behind the sshd, a local target. Two pushes to one branch land within
 * 10 ms of each other, in order and reversed; whatever runs first, the newer commit ends live.
 */
describe("chaos 4: racing pushes through a builder and a deployer", () => {
  let p: Pipeline;
  let hook: string;
  let token: string;
  let port: number;
  const app = `race-${process.pid}`;

  beforeAll(async () => {
    p = await startPipeline({ deployer: true });
    port = await freePort();
    ({ hook, token } = await p.createApp({
      name: app,
      target: { kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 20 } } },
    }));
  }, 120_000);
  afterAll(async () => {
    await p?.close();
    await removeLocalApp(docker, app);
  });

  const final = ["succeeded", "failed", "canceled"];
  const settled = ["live", "retired", "failed", "rolled_back"];

  it(`two pushes to one branch within 10 ms, ${RACE_ROUNDS}× in order and ${RACE_ROUNDS}× reversed: the newer commit is the one live`, async () => {
    const t0 = performance.now();
    const rounds: string[] = [];
    // Rounds sent within 10 ms per order (a round the loaded machine sent further apart still
    // counts for correctness, not towards these).
    const within = { "in order": 0, "newer first": 0 };
    const olderStarted = { "in order": 0, "newer first": 0 };
    let before = ZERO;
    for (let round = 0; within["in order"] < RACE_ROUNDS || within["newer first"] < RACE_ROUNDS; round++) {
      if (round >= 4 * RACE_ROUNDS) throw new Error(`too few rounds sent within 10 ms: ${JSON.stringify(within)}`);
      const order = within["in order"] <= within["newer first"] ? "in order" : "newer first";
      const olderSha = p.repo.commit(httpAppRepoFiles(`round ${round} older`), `round ${round} older`);
      const newerSha = p.repo.commit(httpAppRepoFiles(`round ${round} newer`), `round ${round} newer`);
      const older = pushPayload({ before, after: olderSha });
      const newer = pushPayload({ before: olderSha, after: newerSha });
      before = newerSha;
      const [first, second] = order === "in order" ? [older, newer] : [newer, older];
      const sentFirst = performance.now();
      const sends = [deliver(hook, { event: "Push Hook", token, body: first })];
      while (performance.now() - sentFirst < 3) await new Promise((r) => setImmediate(r));
      const gap = performance.now() - sentFirst;
      sends.push(deliver(hook, { event: "Push Hook", token, body: second }));
      const answers = await Promise.all(sends);
      for (const a of answers) expect(a.status).toBe(202);
      const ids = answers.map((a) => a.body.buildId as string);
      const [olderId, newerId] = order === "in order" ? ids : [...ids].reverse();
      // Settled: both builds ended, no release of the app still on its way, the deploy queue empty.
      const end = await untilSettled(
        async () => {
          const [o, n] = await Promise.all([olderId, newerId].map((id) => p.h.deps.records.builds.require(id as string)));
          const releases = await p.h.deps.records.releases.listByApp(app, 100);
          const deploys = await p.h.deps.queues.queue("deploy").getJobCounts("active", "waiting", "delayed", "prioritized");
          return { o, n, releases, busy: Object.values(deploys).reduce((a, b) => a + b, 0) };
        },
        (x) =>
          [x.o, x.n].every((b) => final.includes(b?.status ?? "")) && x.busy === 0 && x.releases.every((r) => settled.includes(r.status)),
        120_000,
        200,
      );
      const live = end.releases
        .filter((r) => r.status === "live")
        .map((r) => (r.buildId === newerId ? "newer" : r.buildId === olderId ? "older" : r.buildId));
      const served = (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text())).trim();
      const olderReleases = end.releases.filter((r) => r.buildId === olderId).length;
      rounds.push(
        `${order} ${gap.toFixed(1)} ms: older ${end.o?.status}${end.o?.startedAt ? " (had started)" : ""}, newer ${end.n?.status}, live ${live.join(",")}, serving "${served}"`,
      );
      if (gap < 10) within[order]++;
      if (end.o?.startedAt) olderStarted[order]++;
      expect(end.n?.status, rounds.at(-1)).toBe("succeeded");
      expect(end.o, rounds.at(-1)).toMatchObject({ status: "canceled", reason: "superseded" });
      expect(olderReleases, rounds.at(-1)).toBe(0);
      expect(live, rounds.at(-1)).toEqual(["newer"]);
      expect(served).toBe(`round ${round} newer`);
    }
    // Every release of a succeeded build went live: the last round's is live, each earlier one was
    // replaced by the next round's (retired); none failed, none was left on its way.
    const releases = await p.h.deps.records.releases.listByApp(app, 1000);
    const byStatus = releases.map((r) => `${r.status}${r.reason ? ` ${r.reason}` : ""}`);
    expect(byStatus.filter((s) => s === "live")).toHaveLength(1);
    expect(byStatus.filter((s) => s !== "live" && s !== "retired")).toEqual([]);
    expect(releases).toHaveLength(rounds.length);
    console.log(
      `chaos 4 racing pushes (builder + deployer): ${rounds.length} rounds, within 10 ms ${JSON.stringify(within)}; ` +
        `the older build had started before it was canceled ${JSON.stringify(olderStarted)}; newer live and serving in every round; releases ${JSON.stringify(Object.fromEntries([...new Set(byStatus)].map((st) => [st, byStatus.filter((x) => x === st).length])))}; ` +
        `${Math.round(performance.now() - t0)} ms; rounds: ${rounds.join("; ")}`,
    );
  }, 300_000);
});
