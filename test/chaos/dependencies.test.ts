import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBuilder, type TestBuilder } from "../../services/builder/src/testing/worker.js";
import { DeployerHarness } from "../../services/deployer/src/testing/harness.js";
import { NotifierWorld } from "../notifier/setup.js";
import { type BuilderWorld, builderWorld } from "../support/builder/world.js";
import { startEcsServer } from "../support/ecs/server.js";
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
    expect(build.reason).toMatch(/push web: registry unreachable or failing: .*connection refused/);
    expect(job?.attemptsMade).toBe(3);
    expect(retries).toHaveLength(2);
    expect(await job?.getState()).toBe("failed");
    expect(await world.records.releases.listByApp(app)).toEqual([]);
    expect(lines.at(-1)).toBe("[end failed]");
  }, 120_000);
});

describe("chaos 8: GitLab answering 500, ECS throttling", () => {
  it("GitLab API 500 on every commit status: all 8 attempts with backoff, then a failed job naming GitLab's answer", async () => {
    const w = await new NotifierWorld().start();
    try {
      const app = await w.app({ slack: false });
      const build = await w.build(app.name);
      w.gitlab.state.failNext(/^POST \/projects\/\d+\/statuses\//, 500, { message: "500 Internal Server Error" }, 1_000);
      const t0 = performance.now();
      // The production attempt count (8); the exponential backoff starts at 50 ms here instead of 2 s.
      const out = await w.run(
        { kind: "gitlab-status", event: "build.pending", buildId: build.id },
        { backoff: { type: "exponential", delay: 50 } },
        60_000,
      );
      const ms = performance.now() - t0;
      const posts = w.gitlab.state.requests.filter((r) => r.method === "POST");
      console.log(
        `chaos 8 GitLab 500: ${out.job.attemptsMade} attempts, ${posts.length} requests, ` +
          `failed after ${Math.round(ms)} ms: "${out.error?.message}"`,
      );
      expect(out.error?.message).toMatch(/GitLab .*500/);
      expect(out.job.attemptsMade).toBe(8);
      // One status request per attempt: GitLab was really asked 8 times.
      expect(posts).toHaveLength(8);
      expect(await out.job.getState()).toBe("failed");
      // Backoff: 7 waits of 50 ms doubling each time add up to 6.35 s; without backoff it would take well under 1 s.
      expect(ms).toBeGreaterThan(6_000);
    } finally {
      await w.close();
    }
  }, 90_000);

  it("ECS ThrottlingException on every UpdateService: retried with backoff, then the release fails with AWS's error; the previous stays live", async () => {
    const ecs = await startEcsServer();
    const h = new DeployerHarness();
    try {
      ecs.state.addService(
        "prod",
        "shop-web",
        String(ecs.state.register({ family: "shop", containerDefinitions: [{ name: "app", image: "old/shop:1" }] }).taskDefinitionArn),
        { kind: "complete", afterMs: 100 },
      );
      h.startWorker({ ecs: h.ecsClients(ecs.url) });
      await h.createApp("shop", { kind: "ecs", cluster: "prod", service: "shop-web", containers: { web: "app" } });
      const previous = await h.createRelease("shop", [{ service: "web", tag: "127.0.0.1:5000/shop:web.1" }]);
      await h.markLive(previous);
      const release = await h.createRelease("shop", [{ service: "web", tag: "127.0.0.1:5000/shop:web.2" }]);
      ecs.state.failNext("UpdateService", "ThrottlingException", "Rate exceeded", 1_000);
      const t0 = performance.now();
      const { outcome, job, release: after } = await h.deploy(release.id, { attempts: 5 });
      const ms = performance.now() - t0;
      const updates = ecs.state.requests.filter((r) => r.op === "UpdateService").length;
      console.log(
        `chaos 8 ECS throttling: ${job.attemptsMade} job attempts, ${updates} UpdateService calls (SDK retries included), release ${after.status} ` +
          `after ${Math.round(ms)} ms: "${after.reason}"`,
      );
      expect(outcome).toBe("failed");
      expect(job.attemptsMade).toBe(5);
      expect(after.status).toBe("failed");
      expect(after.reason).toBe("gave up after the last attempt: ECS ThrottlingException: Rate exceeded");
      expect(updates).toBeGreaterThanOrEqual(5);
      expect((await h.records.releases.require(previous.id)).status).toBe("live");
      expect((await h.queues.queue("deploy").getJobCounts("active")).active).toBe(0);
    } finally {
      await h.close();
      await ecs.close();
    }
  }, 90_000);
});
