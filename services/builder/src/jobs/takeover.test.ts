import { readdirSync } from "node:fs";
import { buildLogKey, followLog } from "@hoist/shared";
import { testRedis } from "@hoist/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builderProcesses } from "../../../../test/support/builder/processes.js";
import { type BuilderWorld, builderWorld, registryTags } from "../../../../test/support/builder/world.js";
import { ensureBaseImages } from "../../../../test/support/images/base-images.js";

/** Builder processes as `pnpm start` runs them, with a short lock so a dead one's build is taken over quickly. */
describe("a killed builder's build is taken over and finishes once", () => {
  let world: BuilderWorld;
  let procs: ReturnType<typeof builderProcesses>;

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("takeover");
    procs = builderProcesses(world);
  }, 60_000);
  afterAll(async () => {
    await procs?.stopAll();
    await world?.close();
  });

  const startBuilder = () => procs.start({ HOIST_BUILD_LOCK_MS: "2000", HOIST_BUILD_STALLED_INTERVAL_MS: "1000" });

  it("kill -9 mid-build, another builder takes the job over: succeeded, same tags, one release, one deploy job", async () => {
    const sha = world.repo.commit({ Dockerfile: 'FROM busybox\nRUN sleep 3\nCMD ["true"]\n' }, "slow");
    const { app, buildId } = await world.createAppAndBuild({ sha, noCache: true });
    const first = startBuilder();
    await first.waitForLog(/"msg":"ready"/);
    await world.queues.enqueue("build", { kind: "build", buildId });

    const blocking = testRedis();
    const key = buildLogKey(world.prefix, buildId);
    let lastId = "0";
    for await (const e of followLog(blocking, key, { blockMs: 200 })) {
      lastId = e.id;
      if (e.kind === "line" && /STEP 2\/3: RUN sleep/.test(e.line)) break;
    }
    expect(readdirSync(world.workDir).length).toBe(1);
    first.child.kill("SIGKILL");
    await first.exited;

    const second = startBuilder();
    // The new process removes the dead one's temp dir (and its decrypted key) before anything else.
    await second.waitForLog(/removed temp dirs left by stopped builders/);
    let end: string | undefined;
    const lines: string[] = [];
    for await (const e of followLog(blocking, key, { afterId: lastId, blockMs: 500 })) {
      if (e.kind === "end") end = e.status;
      else lines.push(`${e.step}: ${e.line}`);
    }
    blocking.disconnect();
    expect(end).toBe("succeeded");
    expect(lines.some((l) => l.startsWith("start: resuming build #1"))).toBe(true);

    const build = await world.records.builds.require(buildId);
    expect(build.status).toBe("succeeded");
    expect(build.images?.map((i) => i.tag)).toEqual([`${world.registry}/${app}:web.1`]);
    expect(await registryTags(world.registry, app)).toEqual(["web.1"]);
    expect(await world.records.releases.listByApp(app)).toHaveLength(1);
    const deployJobs = await world.queues.queue("deploy").getJobs(["waiting", "prioritized", "delayed", "active", "completed", "failed"]);
    expect(deployJobs.map((j) => ({ kind: j.data.kind, releaseId: j.data.releaseId }))).toEqual([
      { kind: "deploy", releaseId: build.releaseId },
    ]);
    const job = await world.queues.queue("build").getJob(buildId);
    expect(await job?.getState()).toBe("completed");
    expect(readdirSync(world.workDir)).toEqual([]);
  }, 90_000);
});
