import { buildLogKey, type JobContext, ReleaseLifecycle, readLog, secretContexts } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuilderWorld, builderWorld } from "../../../../test/support/builder/world.js";
import { startTestBuilder, type TestBuilder, testLog } from "../testing/worker.js";
import { processBuild } from "./build-job.js";

const DAY_MS = 86_400_000;

describe("a build's log in Redis: bounded, masked and expiring", () => {
  let world: BuilderWorld;
  let builder: TestBuilder;

  beforeAll(async () => {
    world = await builderWorld("blog");
    builder = await startTestBuilder(world);
  });
  afterAll(async () => {
    await builder?.close();
    await world?.close();
  });

  it("a build printing 100 MB keeps its log under the byte cap, masks the app's env, the registry password and a PEM key, and expires with its record", async () => {
    const { app, buildId } = await world.createAppAndBuild({ sha: "a".repeat(40) });
    const envSecret = "db-password-4c6f9e";
    await world.records.apps.update(app, {
      env: await world.secrets.seal(JSON.stringify({ DATABASE_PASSWORD: envSecret, PORT: "80" }), secretContexts.appEnv(app)),
    });
    const registryPassword = "registry-pass-9d8e7f";
    const longLine = "x".repeat(64 * 1024);
    const shortLine = "y".repeat(4000);
    const ctx = { job: { attemptsMade: 0, opts: { attempts: 1 } }, signal: undefined, log: testLog } as unknown as JobContext;
    const outcome = await processBuild(
      {
        ...builder.deps,
        // The real build job, with a pipeline that prints what a hostile or careless build might.
        runPipeline: async (_app, _build, deps) => {
          deps.redact?.(registryPassword);
          deps.log("build web", `connecting as hoist:${registryPassword} with DATABASE_PASSWORD=${envSecret}`);
          for (const l of [
            "key: -----BEGIN OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU=",
            "AAAAC3NzaC1lZDI1NTE5AAAAIB",
            "-----END OPENSSH PRIVATE KEY----- done",
          ]) {
            deps.log("build web", l);
          }
          // 100 MB of output: 100 lines of 64 KiB, then 24,000 lines of 4,000 bytes.
          for (let i = 0; i < 100; i++) deps.log("build web", longLine);
          for (let i = 0; i < 24_000; i++) deps.log("build web", shortLine);
          return [{ service: "web", tag: `${world.registry}/${app}:web.1` }];
        },
      },
      buildId,
      ctx,
    );
    expect(outcome).toMatchObject({ outcome: "succeeded" });

    const key = buildLogKey(world.prefix, buildId);
    const bytes = Number(await world.redis.call("MEMORY", "USAGE", key, "SAMPLES", "0"));
    // 8 MiB of lines, plus the stream's own bookkeeping.
    expect(bytes).toBeLessThan(9.5 * 1024 * 1024);
    const entries = await readLog(world.redis, key);
    const lines = entries.flatMap((e) => (e.kind === "line" ? [e.line] : []));
    expect(lines[0]).toMatch(/^build #1 of /);
    expect(lines[1]).toBe("connecting as hoist:[redacted] with DATABASE_PASSWORD=[redacted]");
    expect(lines[2]).toBe("key: [redacted private key]");
    expect(lines[3]).toBe(" done");
    expect(lines[4]).toBe(`${"x".repeat(4096)} [line cut: over 4096 bytes]`);
    expect(lines.at(-1)).toBe("[log truncated: over 8388608 bytes; later lines were dropped]");
    expect(entries.at(-1)).toMatchObject({ kind: "end", status: "succeeded" });
    const text = lines.join("\n");
    for (const secret of [envSecret, registryPassword, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU=", "AAAAC3NzaC1lZDI1NTE5AAAAIB"])
      expect(text).not.toContain(secret);

    // The finished build and its log expire together after the retention time (30 days by default) ...
    const recordKey = world.records.builds.key(buildId);
    for (const k of [recordKey, key]) {
      const ttl = await world.redis.pttl(k);
      expect(ttl).toBeGreaterThan(30 * DAY_MS - 60_000);
      expect(ttl).toBeLessThanOrEqual(30 * DAY_MS);
    }
    // ... unless its release goes live: then the release, the build and their logs are kept, until replaced.
    const build = await world.records.builds.require(buildId);
    const release = await world.records.releases.require(build.releaseId as string);
    await world.redis.xadd(`${world.records.releases.key(release.id)}:log`, "*", "l", "deploying");
    const lifecycle = new ReleaseLifecycle(world.records, world.queues);
    const lock = { key: world.records.keys.deployLock(app), token: "1" };
    await world.redis.set(lock.key, lock.token);
    await lifecycle.begin(release, lock);
    await lifecycle.goLive(release, lock);
    for (const k of [recordKey, key, world.records.releases.key(release.id)]) expect(await world.redis.pttl(k)).toBe(-1);
    const next = await world.records.releases.create({ app, buildId, images: release.images });
    await lifecycle.begin(next, lock);
    expect(await lifecycle.goLive(next, lock)).toEqual({ replaced: release.id, rolledBack: false });
    for (const k of [world.records.releases.key(release.id), `${world.records.releases.key(release.id)}:log`]) {
      expect(await world.redis.pttl(k)).toBeGreaterThan(29 * DAY_MS);
    }
    // (The new live release shares the build here, as a rollback's may: the build stays kept.)
    for (const k of [recordKey, key, world.records.releases.key(next.id)]) expect(await world.redis.pttl(k)).toBe(-1);
  }, 120_000);
});
