import { randomInt } from "node:crypto";
import { readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builderProcesses } from "../support/builder/processes.js";
import { type BuilderWorld, builderWorld } from "../support/builder/world.js";
import { ensureBaseImages } from "../support/images/base-images.js";
import { untilSettled } from "./support.js";

/** Scenario 1 (builder): kill -9 at a random point of builds, again and again; nothing stuck, nothing twice. */
const KILLS = Number(process.env.HOIST_CHAOS_KILLS ?? 20);
/**
 * The promise of docs/operations.md (chaos results): at least 18 of 20 killed builds succeed. A build fails only when its job
 * was on a killed builder more often than MAX_STALLED_COUNT allows, which takes several rounds in a row.
 */
const MIN_SUCCEEDED = Math.ceil(KILLS * 0.9);
/** Most kills must land while a build runs, or the scenario proves little (docs/operations.md reports 19–20 of 20). */
const MIN_KILLED_MID_BUILD = Math.ceil(KILLS * 0.75);
/** The final builder's wait (90 s) and drain (30 s) plus up to 20 s a round on a 2-core machine shared with other work. */
const TIMEOUT_MS = 120_000 + KILLS * 20_000;

describe("chaos 1: builder killed with kill -9 at random points", () => {
  let world: BuilderWorld;
  let procs: ReturnType<typeof builderProcesses>;

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("chaos-kill");
    procs = builderProcesses(world);
  }, 60_000);
  afterAll(async () => {
    await procs?.stopAll();
    await world?.close();
  });

  // A short lock so a dead builder's job is back in the queue within seconds.
  const startBuilder = () => procs.start({ HOIST_CONCURRENCY: "2", HOIST_BUILD_LOCK_MS: "2000", HOIST_BUILD_STALLED_INTERVAL_MS: "1000" });

  it(
    `${KILLS} kills, each at a random point of a running build: at least ${MIN_SUCCEEDED} succeed, the rest fail only for the kills, one release per commit, one deploy job per release`,
    async () => {
      const t0 = performance.now();
      const builds: { app: string; buildId: string }[] = [];
      let killedMidBuild = 0;
      // Each round pushes a commit, lets a builder start on it (and on what earlier kills left), and
      // kills it at a random moment while a build runs (checkout, image build or push).
      for (let k = 0; k < KILLS; k++) {
        const sha = world.repo.commit({ Dockerfile: `FROM busybox\nRUN echo ${k} > /n && sleep 1\nCMD ["true"]\n` }, `chaos ${k}`);
        const b = await world.createAppAndBuild({ sha, noCache: true });
        await world.queues.enqueue("build", { kind: "build", buildId: b.buildId });
        builds.push(b);
        const p = startBuilder();
        // Generous bounds: a builder also takes back what earlier kills left (both slots may be busy
        // with those first), and a machine shared with other work starts and builds slowly.
        await p.waitForLog(/"msg":"ready"/, 60_000);
        await untilSettled(
          () => world.records.builds.require(b.buildId),
          (x) => x.status !== "queued",
          60_000,
          20,
        );
        await new Promise((r) => setTimeout(r, randomInt(0, 2_500)));
        const running = (await Promise.all(builds.map((x) => world.records.builds.require(x.buildId)))).filter(
          (x) => x.status === "running",
        );
        p.child.kill("SIGKILL");
        await p.exited;
        if (running.length > 0) killedMidBuild++;
      }
      const killed = KILLS;
      const BUILDS = builds.length;
      // One last builder, left alone: it must finish (or fail) whatever the killed ones left.
      startBuilder();
      const final = await untilSettled(
        async () => Promise.all(builds.map((b) => world.records.builds.require(b.buildId))),
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
      const statuses = final.map((b) => b.status);
      const releases = await Promise.all(builds.map((b) => world.records.releases.listByApp(b.app)));
      // A build job that stalled out after its build succeeded has its deploy job sent by the
      // worker's failed handler, a moment after the job is failed: wait for it (bounded).
      const wanted = final.filter((b) => b.status === "succeeded").length;
      const readDeployJobs = () =>
        world.queues.queue("deploy").getJobs(["waiting", "prioritized", "delayed", "active", "completed", "failed"]);
      // Not there in time: the assertions below say which build lacks its deploy job.
      const deployJobs = await untilSettled(readDeployJobs, (jobs) => jobs.length >= wanted, 10_000).catch(readDeployJobs);
      const releaseIds = deployJobs.map((j) => j.data.releaseId as string);
      const succeeded = statuses.filter((s) => s === "succeeded").length;
      const reasons = [...new Set(final.filter((b) => b.status === "failed").map((b) => b.reason))];
      console.log(
        `chaos 1 builder: ${killed} kills (${killedMidBuild} with a build running), ${BUILDS} builds: ${succeeded} succeeded, ` +
          `${BUILDS - succeeded} failed, 0 stuck; releases ${releases.map((r) => r.length).join("/")}; ` +
          `${deployJobs.length} deploy jobs for ${new Set(releaseIds).size} releases; ${Math.round(performance.now() - t0)} ms; ` +
          `failure reasons: ${JSON.stringify(reasons)}`,
      );
      for (const [i, b] of final.entries()) {
        expect(["succeeded", "failed"]).toContain(b.status);
        expect(releases[i]).toHaveLength(b.status === "succeeded" ? 1 : 0);
        if (b.status === "succeeded") expect(releaseIds.filter((id) => id === b.releaseId)).toHaveLength(1);
      }
      expect(new Set(releaseIds).size).toBe(releaseIds.length);
      expect(releaseIds).toHaveLength(succeeded);
      expect(killedMidBuild).toBeGreaterThanOrEqual(MIN_KILLED_MID_BUILD);
      expect(succeeded).toBeGreaterThanOrEqual(MIN_SUCCEEDED);
      // A build fails here only because its builders were killed under it too often, and says so.
      for (const reason of reasons) expect(reason).toMatch(/the worker running it stopped \(crash or kill\) \d+ times/);
      // Every build job is finished in BullMQ too: none left active or waiting for a builder.
      const counts = await world.queues.queue("build").getJobCounts("active", "waiting", "delayed", "prioritized");
      expect(counts).toEqual({ active: 0, waiting: 0, delayed: 0, prioritized: 0 });
      expect(readdirSync(world.workDir)).toEqual([]);
    },
    TIMEOUT_MS,
  );
});
