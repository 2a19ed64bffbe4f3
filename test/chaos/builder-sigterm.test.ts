import { buildLogKey, followLog } from "@hoist/shared";
import { testRedis } from "@hoist/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builderProcesses } from "../support/builder/processes.js";
import { type BuilderWorld, builderWorld } from "../support/builder/world.js";
import { ensureBaseImages } from "../support/images/base-images.js";
import { untilSettled } from "./support.js";

/** Scenario 5: SIGTERM to a builder with builds running, with a bound they fit in and one they do not. */
describe("chaos 5: graceful shutdown of a builder with builds running", () => {
  let world: BuilderWorld;
  let procs: ReturnType<typeof builderProcesses>;

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("chaos-term");
    procs = builderProcesses(world);
  }, 60_000);
  afterAll(async () => {
    await procs?.stopAll();
    await world?.close();
  });

  const start = (shutdownMs: number) =>
    procs.start({
      HOIST_CONCURRENCY: "2",
      HOIST_SHUTDOWN_TIMEOUT_MS: String(shutdownMs),
      HOIST_BUILD_LOCK_MS: "2000",
      HOIST_BUILD_STALLED_INTERVAL_MS: "1000",
    });

  async function queueBuilds(n: number, label: string) {
    const out: { app: string; buildId: string }[] = [];
    for (let i = 0; i < n; i++) {
      const sha = world.repo.commit({ Dockerfile: `FROM busybox\nRUN echo ${label}${i} > /n && sleep 3\nCMD ["true"]\n` }, `${label} ${i}`);
      const b = await world.createAppAndBuild({ sha, noCache: true });
      await world.queues.enqueue("build", { kind: "build", buildId: b.buildId });
      out.push(b);
    }
    return out;
  }
  const statuses = (bs: { buildId: string }[]) => Promise.all(bs.map((b) => world.records.builds.require(b.buildId)));

  it.each([
    { bound: 30_000, expectFinished: true },
    { bound: 1_500, expectFinished: false },
  ])(
    "bound $bound ms: exits 143 within it, takes no new job, finishes or hands back; nothing lost",
    async ({ bound, expectFinished }) => {
      const builds = await queueBuilds(3, `b${bound}`);
      const a = start(bound);
      await a.waitForLog(/"msg":"ready"/);
      // Two running (concurrency 2) and well inside the image build.
      await untilSettled(
        () => statuses(builds),
        (all) => all.filter((b) => b.status === "running").length === 2,
        30_000,
        20,
      );
      const running = (await statuses(builds)).find((b) => b.status === "running");
      const blocking = testRedis();
      for await (const e of followLog(blocking, buildLogKey(world.prefix, running?.id as string), { blockMs: 200 })) {
        if (e.kind === "line" && /STEP 2\/3: RUN/.test(e.line)) break;
        if (e.kind === "end") break;
      }
      blocking.disconnect();
      const { code, ms } = await a.stop("SIGTERM");
      const atExit = await statuses(builds);
      const third = atExit.filter((b) => b.status === "queued");
      // Nothing new was started after SIGTERM: the third build is still waiting for a builder.
      expect(third, `at exit after ${Math.round(ms)} ms: ${atExit.map((b) => `${b.status} ${b.reason ?? ""}`).join(", ")}`).toHaveLength(1);
      expect(code).toBe(143);
      expect(ms).toBeLessThan(bound + 1_500);
      const finishedByA = atExit.filter((b) => b.status === "succeeded").length;
      if (expectFinished) expect(finishedByA).toBe(2);
      else expect(finishedByA).toBe(0);
      const t = performance.now();
      const next = start(30_000);
      const final = await untilSettled(
        () => statuses(builds),
        (all) => all.every((b) => b.status === "succeeded" || b.status === "failed"),
        90_000,
      );
      // A build is marked succeeded before its deploy job goes out: wait for the build jobs to finish too.
      await untilSettled(
        async () => {
          const c = await world.queues.queue("build").getJobCounts("active", "waiting", "delayed", "prioritized");
          return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
        },
        (n) => n === 0,
        30_000,
      );
      const releases = await Promise.all(builds.map((b) => world.records.releases.listByApp(b.app)));
      const deployJobs = await world.queues.queue("deploy").getJobs(["waiting", "prioritized", "delayed", "active", "completed", "failed"]);
      const mine = deployJobs.filter((j) => final.some((b) => b.releaseId === j.data.releaseId));
      console.log(
        `chaos 5 SIGTERM (bound ${bound} ms): exit ${code} after ${Math.round(ms)} ms; running builds finished before exit ${finishedByA}/2, ` +
          `handed back ${2 - finishedByA}; third build left queued; next builder finished all ${final.filter((b) => b.status === "succeeded").length}/3 in ${Math.round(performance.now() - t)} ms; ` +
          `releases ${releases.map((r) => r.length).join("/")}, deploy jobs ${mine.length}`,
      );
      expect(final.map((b) => b.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
      for (const r of releases) expect(r).toHaveLength(1);
      expect(mine).toHaveLength(3);
      expect(await world.queues.queue("build").getJobCounts("active", "waiting")).toEqual({ active: 0, waiting: 0 });
      await next.stop("SIGKILL");
    },
    180_000,
  );
});
