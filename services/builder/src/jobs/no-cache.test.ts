import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuilderWorld, builderWorld } from "../../../../test/support/builder/world.js";
import { dockerFromEnv, ensureBaseImages } from "../../../../test/support/images/base-images.js";
import { startTestBuilder, type TestBuilder } from "../testing/worker.js";

/** A build's noCache (POST /v1/apps/:app/builds { noCache }, hoist deploy --no-cache) reaches the engine. */
describe("builds with and without the layer cache", () => {
  let world: BuilderWorld;
  let builder: TestBuilder;
  let sha: string;

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("nocache");
    builder = await startTestBuilder(world);
    // A local repository (HOIST_LOCAL_REPOS): the cache is the engine's, whatever the clone.
    builder.deps.pipeline.localRepos = true;
    // A step whose output differs on every run: cached, it keeps the first run's.
    sha = world.repo.commit({ Dockerfile: `FROM busybox\nRUN date +%s%N > /t-${world.prefix}\n` }, "a step that changes per run");
  }, 120_000);

  afterAll(async () => {
    await builder?.close();
    await world?.close();
  });

  async function build(noCache: boolean): Promise<{ imageId: string; log: string[] }> {
    const { buildId } = await world.createAppAndBuild({ sha, sshUrl: `file://${world.repo.barePath}`, noCache });
    const { error } = await builder.run(buildId);
    expect(error).toBeUndefined();
    const record = await world.records.builds.require(buildId);
    const tag = record.images?.[0]?.tag as string;
    return { imageId: (await dockerFromEnv().getImage(tag).inspect()).Id, log: await builder.logLines(buildId) };
  }

  it("a second build reuses the cached step; with noCache the step runs again", async () => {
    const first = await build(false);
    const cached = await build(false);
    expect(cached.imageId).toBe(first.imageId);
    expect(cached.log.some((l) => /Using cache/.test(l))).toBe(true);
    const fresh = await build(true);
    expect(fresh.imageId).not.toBe(first.imageId);
    expect(fresh.log.some((l) => /Using cache/.test(l))).toBe(false);
  }, 240_000);
});
