import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBuilder, type TestBuilder } from "../../services/builder/src/testing/worker.js";
import { type BuilderWorld, builderWorld } from "../../services/builder/src/testing/world.js";
import { ensureBaseImages } from "../support/images/base-images.js";
import { freePort } from "./private-redis.js";

/** Scenario 8 (registry part): the registry is down when the build pushes. */
describe("chaos 8: a dependency down", () => {
  let world: BuilderWorld;
  let builder: TestBuilder;
  let deadRegistry: string;

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("chaos-deps");
    // A loopback port nothing listens on: every connection is refused, as with a registry that is down.
    deadRegistry = `127.0.0.1:${await freePort()}`;
    builder = await startTestBuilder(world, { registry: deadRegistry });
  }, 60_000);
  afterAll(async () => {
    await builder?.close();
    await world?.close();
  });

  it("registry down during push: every attempt retried with backoff, then failed with the push error; nothing stuck", async () => {
    const sha = world.repo.commit({ Dockerfile: 'FROM busybox\nCMD ["true"]\n' }, "push to nowhere");
    const { app, buildId } = await world.createAppAndBuild({ sha });
    const t0 = performance.now();
    // The production attempt count (3); the backoff is fixed at 1 s here instead of 10 s exponential.
    const out = await builder.run(buildId, { attempts: 3, backoff: { type: "fixed", delay: 1_000 } });
    const ms = performance.now() - t0;
    const build = await world.records.builds.require(buildId);
    const lines = await builder.logLines(buildId);
    const retries = lines.filter((l) => l.startsWith("retry: "));
    const job = await world.queues.queue("build").getJob(buildId);
    console.log(
      `chaos 8 registry down: ${job?.attemptsMade} attempts, ${retries.length} retries logged, failed after ${Math.round(ms)} ms: "${build.reason}"`,
    );
    expect(out.error).toBeDefined();
    expect(build.status).toBe("failed");
    expect(build.reason).toMatch(/push/i);
    expect(build.reason).toContain(deadRegistry);
    expect(job?.attemptsMade).toBe(3);
    expect(retries).toHaveLength(2);
    expect(await job?.getState()).toBe("failed");
    expect(await world.records.releases.listByApp(app)).toEqual([]);
    expect(lines.at(-1)).toBe("[end failed]");
  }, 120_000);
});
