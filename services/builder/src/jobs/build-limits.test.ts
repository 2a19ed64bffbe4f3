import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuilderWorld, builderWorld } from "../../../../test/support/builder/world.js";
import { ensureBaseImages } from "../../../../test/support/images/base-images.js";
import { defaultBuildCaps } from "../domain/build-limits.js";
import { processesRunning } from "../testing/host.js";
import { startTestBuilder, type TestBuilder } from "../testing/worker.js";

/** An app's `build` settings and the builder's HOIST_BUILD_* caps reach the engine through a build job. */
describe("build jobs run in the app's box", () => {
  let world: BuilderWorld;
  let builder: TestBuilder;

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("limits");
    builder = await startTestBuilder(world);
    builder.deps.pipeline.localRepos = true;
  }, 120_000);

  afterAll(async () => {
    await builder?.close();
    await world?.close();
  });

  async function buildWith(dockerfile: string, settings: Parameters<BuilderWorld["records"]["apps"]["update"]>[1]) {
    const sha = world.repo.commit({ Dockerfile: dockerfile }, "a probe");
    const { app, buildId } = await world.createAppAndBuild({ sha, sshUrl: `file://${world.repo.barePath}` });
    await world.records.apps.update(app, settings);
    const { error } = await builder.run(buildId);
    return { error, record: await world.records.builds.require(buildId), log: await builder.logLines(buildId) };
  }

  it('an app with network "none" builds with loopback only, and the log says the limits in effect', async () => {
    // A step of its own each run: a cached step prints nothing (the engine's cache outlives the suite).
    const nonce = Math.random().toString(36).slice(2);
    const { error, log } = await buildWith(`FROM busybox\nRUN echo ${nonce} >/dev/null; echo links=$(ip -o link | wc -l)\n`, {
      build: { network: "none", memoryMb: 256 },
    });
    expect(error).toBeUndefined();
    expect(log).toContain("build web: links=1");
    expect(log).toContain("limits: network none, 256 MB memory, 2 cpus, 1024 processes, 30 min per image");
  }, 120_000);

  it("past the builder's time limit the build fails with the reason and its step is stopped", async () => {
    builder.deps.pipeline.buildCaps = { ...defaultBuildCaps, timeoutSec: 8 };
    try {
      const { error, record } = await buildWith("FROM busybox\nRUN sleep 619\n", { build: { timeoutMinutes: 30 } });
      expect(error?.message).toBe("build web: build exceeded its 8 s limit");
      expect(record.status).toBe("failed");
      expect(record.reason).toBe("build web: build exceeded its 8 s limit");
      expect(processesRunning("sleep", "619")).toEqual([]);
    } finally {
      builder.deps.pipeline.buildCaps = undefined;
    }
  }, 120_000);
});
