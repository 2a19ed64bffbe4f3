import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appRegistryUser, secretContexts } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuilderWorld, builderWorld, registryTags } from "../../../../test/support/builder/world.js";
import { type FileSpec, makeKeypair, sshHostKeyLine, wrongHostKeyLine } from "../../../../test/support/git/index.js";
import { busyboxImage, dockerFromEnv, ensureBaseImages } from "../../../../test/support/images/base-images.js";
import { testRegistryAuth } from "../../../../test/support/registry/auth.js";
import { startTestBuilder, type TestBuilder } from "../testing/worker.js";
import { failOrphanedBuild } from "./build-job.js";

const compose = `services:
  web:
    build:
      context: ./web
      args:
        GREETING: hello
  worker:
    build: ./worker
  redis:
    image: redis:7
`;

describe("build job against podman, the registry and git over sshd", () => {
  let world: BuilderWorld;
  let builder: TestBuilder;
  let shaA: string;
  let shaTip: string;

  beforeAll(async () => {
    await ensureBaseImages();
    world = await builderWorld("bld");
    builder = await startTestBuilder(world);
    shaA = world.repo.commit(
      {
        "docker-compose.yml": compose,
        "web/Dockerfile": `FROM ${busyboxImage}\nARG GREETING\nCOPY message.txt /message.txt\nRUN echo "$GREETING" > /greeting.txt\nCMD ["cat", "/message.txt"]\n`,
        "web/message.txt": "written by commit A\n",
        "web/.dockerignore": "secret.txt\n",
        "web/secret.txt": "must not reach the image\n",
        "worker/Dockerfile": `FROM busybox\nCMD ["echo", "worker"]\n`,
      },
      "commit A",
    );
    shaTip = world.repo.commit({ "web/message.txt": "written by the tip\n" }, "tip");
  }, 120_000);

  afterAll(async () => {
    await builder?.close();
    await world?.close();
  });

  it("builds both services at the given commit (not the tip), pushes them and creates one release and deploy job", async () => {
    expect(shaTip).not.toBe(shaA);
    const { app, buildId } = await world.createAppAndBuild({ sha: shaA });
    const { error } = await builder.run(buildId);
    expect(error).toBeUndefined();

    const build = await world.records.builds.require(buildId);
    expect(build.status).toBe("succeeded");
    expect(build.startedAt).toBeDefined();
    expect(build.finishedAt).toBeDefined();
    expect(build.images?.map((i) => i.tag).sort()).toEqual([`${world.registry}/${app}:web.1`, `${world.registry}/${app}:worker.1`]);
    for (const image of build.images ?? []) expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await registryTags(world.registry, app)).sort()).toEqual(["web.1", "worker.1"]);

    // One release, recorded on the build, and one deploy job for it.
    const releases = await world.records.releases.listByApp(app);
    expect(releases).toHaveLength(1);
    expect(releases[0]).toMatchObject({ buildId, status: "pending", images: build.images });
    expect(build.releaseId).toBe(releases[0]?.id);
    const deployJob = await world.queues.queue("deploy").getJob(build.releaseId as string);
    // (A trace context may ride along when tracing is on.)
    expect(deployJob?.data).toMatchObject({ kind: "deploy", releaseId: build.releaseId });
    const notify = await world.queues.queue("notify").getJobs(["waiting", "prioritized", "delayed"]);
    expect(notify.map((j) => `${j.data.kind}:${j.data.event}`).sort()).toEqual(
      // Slack hears only of outcomes worth a message (failures, cancels, live); not of running or succeeded builds.
      // ... and an app without an outgoing webhook gets no webhook jobs.
      ["gitlab-status:build.running", "gitlab-status:build.succeeded"],
    );

    // Trust on first use: the sshd's real host key is now pinned for the app, under a key of its
    // own (the builder, as its Redis user here, may not write the app record).
    const pinned = (await world.records.apps.require(app)).hostKeys;
    expect(pinned).toContain(sshHostKeyLine());
    expect(await world.redis.hget(world.records.apps.key(app), "hostKeys")).toBeNull();
    expect(JSON.parse((await world.redis.get(`${world.records.apps.key(app)}:host-keys`)) ?? "[]")).toContain(sshHostKeyLine());

    // The log holds clone, build and push lines, and ends.
    const lines = await builder.logLines(buildId);
    expect(lines.some((l) => l.startsWith("clone: checked out"))).toBe(true);
    expect(lines.some((l) => /^build web: STEP \d\/\d: COPY message.txt/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith("push worker: pushed"))).toBe(true);
    expect(lines.at(-1)).toBe("[end succeeded]");
    expect(lines.join("\n")).not.toContain("PRIVATE KEY");
    expect(lines.join("\n")).not.toContain(world.workDir);

    // The temp dir, with its decrypted key, is gone.
    expect(readdirSync(world.workDir)).toEqual([]);

    // Running the pushed web image prints what commit A wrote, not the tip, and .dockerignore kept secret.txt out.
    const docker = dockerFromEnv();
    const image = `${world.registry}/${app}:web.1`;
    await docker.getImage(image).remove({ force: true });
    // Pulled back as the app itself (the registry takes tokens only).
    const pull = await docker.pull(image, { authconfig: testRegistryAuth(appRegistryUser(app)) });
    await new Promise<void>((res, rej) => docker.modem.followProgress(pull, (err) => (err ? rej(err) : res())));
    const out: string[] = [];
    for (const cmd of [
      ["cat", "/message.txt"],
      ["cat", "/greeting.txt"],
      ["sh", "-c", "test -e /secret.txt && echo present || echo absent"],
    ]) {
      const container = await docker.createContainer({ Image: image, Cmd: cmd, HostConfig: { NetworkMode: "host" } });
      await container.start();
      await container.wait();
      out.push((await container.logs({ stdout: true, stderr: true, follow: false })).toString("utf8"));
      await container.remove({ force: true });
    }
    expect(out[0]).toContain("written by commit A");
    expect(out[0]).not.toContain("tip");
    expect(out[1]).toContain("hello");
    expect(out[2]).toContain("absent");
  }, 120_000);

  it("a second run of the same job finds the release and does not create another", async () => {
    const { app, buildId } = await world.createAppAndBuild({ sha: shaA });
    await builder.run(buildId);
    const first = await world.records.builds.require(buildId);
    // As a taken-over job would: the record is running again with its release id set.
    await world.records.builds.patch(buildId, { status: "running" });
    await world.queues.queue("build").remove(buildId);
    const { error } = await builder.run(buildId);
    expect(error).toBeUndefined();
    expect(await world.records.releases.listByApp(app)).toHaveLength(1);
    expect((await world.records.builds.require(buildId)).releaseId).toBe(first.releaseId);
  }, 120_000);

  it("makes a release in every environment with auto: true, each with its own variables, and none when no environment is auto", async () => {
    const { app, buildId } = await world.createAppAndBuild({ sha: shaA });
    const record = await world.records.apps.require(app);
    await world.records.environments.update(record, "production", { auto: false });
    const stagingEnv = await world.secrets.seal(JSON.stringify({ WHERE: "staging" }), secretContexts.environmentEnv(app, "staging"));
    const local = { kind: "local" as const, services: {} };
    await world.records.environments.create(record, { name: "staging", target: local, env: stagingEnv, auto: true });
    await world.records.environments.create(record, { name: "qa", target: local, auto: true });
    await world.records.environments.create(record, { name: "eu", target: local });
    expect((await builder.run(buildId)).error).toBeUndefined();

    const build = await world.records.builds.require(buildId);
    expect(build.status).toBe("succeeded");
    const made = [
      { environment: "staging", id: `rel_${buildId}-staging` },
      { environment: "qa", id: `rel_${buildId}-qa` },
    ];
    expect(build.releases).toEqual(made);
    expect(build.releaseId).toBe(made[0]?.id);
    expect(await world.records.releases.listByApp(app)).toEqual([]);
    expect(await world.records.releases.listByEnvironment(app, "eu")).toEqual([]);
    const [staging] = await world.records.releases.listByEnvironment(app, "staging");
    expect(staging).toMatchObject({ id: made[0]?.id, environment: "staging", number: 1, images: build.images, env: stagingEnv });
    const [qa] = await world.records.releases.listByEnvironment(app, "qa");
    expect(qa).toMatchObject({ id: made[1]?.id, environment: "qa", number: 1, images: build.images });
    expect(qa?.env).toBeUndefined();
    for (const r of made) expect((await world.queues.queue("deploy").getJob(r.id))?.data).toMatchObject({ releaseId: r.id });

    // Run again (a taken-over job): the same releases, no other, even with another environment made auto since.
    await world.records.environments.update(record, "eu", { auto: true });
    await world.queues.queue("build").remove(buildId);
    expect((await builder.run(buildId)).error).toBeUndefined();
    expect((await world.records.builds.require(buildId)).releases).toEqual(made);
    expect(await world.records.releases.listByEnvironment(app, "eu")).toEqual([]);

    const other = await world.createAppAndBuild({ sha: shaA });
    await world.records.environments.update(await world.records.apps.require(other.app), "production", { auto: false });
    expect((await builder.run(other.buildId)).error).toBeUndefined();
    const none = await world.records.builds.require(other.buildId);
    expect(none).toMatchObject({ status: "succeeded", releases: [] });
    expect(none.releaseId).toBeUndefined();
    expect(await builder.logLines(other.buildId)).toContain(
      "release: no environment deploys automatically (auto is false in every one): promote the build",
    );
  }, 180_000);

  it("a merge request's preview build releases only into its preview environment mr-<iid>, never into auto environments", async () => {
    const { app, buildId } = await world.createAppAndBuild({ sha: shaA, preview: { iid: 7 } });
    const record = await world.records.apps.require(app);
    const local = { kind: "local" as const, services: {} };
    // production (auto by default) and staging deploy every push automatically; the preview environment does not.
    await world.records.environments.create(record, { name: "staging", target: local, auto: true });
    const previewEnv = await world.secrets.seal(JSON.stringify({ WHERE: "mr-7" }), secretContexts.environmentEnv(app, "mr-7"));
    await world.records.environments.create(record, { name: "mr-7", target: local, env: previewEnv, auto: false });
    expect((await builder.run(buildId)).error).toBeUndefined();

    const build = await world.records.builds.require(buildId);
    expect(build).toMatchObject({
      status: "succeeded",
      preview: { iid: 7 },
      releases: [{ environment: "mr-7", id: `rel_${buildId}-mr-7` }],
    });
    expect(await world.records.releases.listByApp(app)).toEqual([]);
    expect(await world.records.releases.listByEnvironment(app, "staging")).toEqual([]);
    const [preview] = await world.records.releases.listByEnvironment(app, "mr-7");
    expect(preview).toMatchObject({ id: `rel_${buildId}-mr-7`, environment: "mr-7", env: previewEnv, images: build.images });
    expect((await world.queues.queue("deploy").getJob(`rel_${buildId}-mr-7`))?.data).toMatchObject({ releaseId: `rel_${buildId}-mr-7` });

    // The preview was torn down while it built (its environment is gone): no release anywhere.
    const gone = await world.createAppAndBuild({ sha: shaA, preview: { iid: 8 } });
    expect((await builder.run(gone.buildId)).error).toBeUndefined();
    expect(await world.records.builds.require(gone.buildId)).toMatchObject({ status: "succeeded", releases: [] });
    expect(await world.records.releases.listByApp(gone.app)).toEqual([]);
    expect(await builder.logLines(gone.buildId)).toContain(
      "release: the preview environment mr-8 does not exist (torn down while building): no release",
    );
  }, 180_000);

  it("a failing Dockerfile fails the build with the step's line and exit code", async () => {
    const sha = world.repo.commit(
      { "docker-compose.yml": null, Dockerfile: 'FROM busybox\n# build it\nRUN echo compiling && \\\n  exit 2\nCMD ["true"]\n' },
      "broken",
    );
    const { app, buildId } = await world.createAppAndBuild({ sha });
    const { error } = await builder.run(buildId);
    expect(error?.message).toBe("build web: Dockerfile:3 RUN exit code 2");
    const build = await world.records.builds.require(buildId);
    expect(build).toMatchObject({ status: "failed", reason: "build web: Dockerfile:3 RUN exit code 2" });
    expect(build.logTail?.join("\n")).toContain("compiling");
    expect(build.logTail?.at(-1)).toBe("error: build web: Dockerfile:3 RUN exit code 2");
    const lines = await builder.logLines(buildId);
    expect(lines.at(-1)).toBe("[end failed]");
    expect(await registryTags(world.registry, app)).toEqual([]);
    expect(await world.records.releases.listByApp(app)).toHaveLength(0);
  }, 120_000);

  it("names the failing line in a later stage of a multi-stage Dockerfile", async () => {
    const sha = world.repo.commit(
      {
        "docker-compose.yml": "services:\n  api:\n    build: .\n",
        Dockerfile:
          'FROM busybox AS deps\nRUN echo deps > /deps\n\nFROM busybox\nCOPY --from=deps /deps /deps\nRUN test -e /missing\nCMD ["true"]\n',
      },
      "multi-stage failure",
    );
    const { buildId } = await world.createAppAndBuild({ sha, noCache: true });
    const { error } = await builder.run(buildId);
    expect(error?.message).toBe("build api: Dockerfile:6 RUN exit code 1");
  }, 60_000);

  it("builds a target stage of a Dockerfile that lies outside its context (inside the repository)", async () => {
    const sha = world.repo.commit(
      {
        "docker-compose.yml":
          "services:\n  app:\n    build:\n      context: ./app\n      dockerfile: ../docker/App.Dockerfile\n      target: runtime\n",
        "docker/App.Dockerfile": 'FROM busybox AS base\nCOPY hello.txt /hello.txt\nFROM base AS runtime\nCMD ["cat", "/hello.txt"]\n',
        "app/hello.txt": "hello from outside the context\n",
      },
      "dockerfile outside the context",
    );
    const { app, buildId } = await world.createAppAndBuild({ sha });
    const { error } = await builder.run(buildId);
    expect(error).toBeUndefined();
    const docker = dockerFromEnv();
    const container = await docker.createContainer({ Image: `${world.registry}/${app}:app.1`, HostConfig: { NetworkMode: "host" } });
    await container.start();
    await container.wait();
    const out = (await container.logs({ stdout: true, stderr: true, follow: false })).toString("utf8");
    await container.remove({ force: true });
    expect(out).toContain("hello from outside the context");
  }, 60_000);

  it("a job BullMQ failed on its own (stalled too often) does not leave its build running", async () => {
    const { buildId } = await world.createAppAndBuild({ sha: shaA });
    await world.records.builds.transition(buildId, ["queued"], { status: "running", startedAt: new Date().toISOString() });
    await failOrphanedBuild(builder.deps, buildId, "job stalled more than allowable limit");
    expect(await world.records.builds.require(buildId)).toMatchObject({
      status: "failed",
      reason: "builder: the worker running it stopped (crash or kill) 4 times; not retried again",
    });
    expect((await builder.logLines(buildId)).at(-1)).toBe("[end failed]");
    const notify = await world.queues.queue("notify").getJob(`slack.build.failed.${buildId}`);
    expect(notify?.data).toMatchObject({ event: "build.failed", buildId });
    // A second call (another worker saw the same event) changes nothing.
    await failOrphanedBuild(builder.deps, buildId, "other");
    expect((await world.records.builds.require(buildId)).reason).toBe(
      "builder: the worker running it stopped (crash or kill) 4 times; not retried again",
    );
  });

  it("a job BullMQ failed on its own after its build succeeded still sends the deploy jobs it had not sent", async () => {
    const { app, buildId } = await world.createAppAndBuild({ sha: shaA });
    expect((await builder.run(buildId)).error).toBeUndefined();
    const { releaseId } = await world.records.builds.require(buildId);
    // Other tests of this file leave their deploy jobs in the same queue.
    const deployJobs = async () =>
      (await world.queues.queue("deploy").getJobs(["waiting", "prioritized", "delayed", "active"])).filter(
        (j) => j.data.releaseId === releaseId,
      );
    const [sent] = await deployJobs();
    // As if the worker died between the build's success and the deploy job, then stalled out.
    await sent?.remove();
    expect(await deployJobs()).toHaveLength(0);
    await failOrphanedBuild(builder.deps, buildId, "job stalled more than allowable limit");
    expect((await world.records.builds.require(buildId)).status).toBe("succeeded");
    expect((await deployJobs()).map((j) => j.data)).toEqual([{ kind: "deploy", releaseId }]);
    expect(await world.records.releases.listByApp(app)).toHaveLength(1);
  }, 120_000);

  it("a build canceled before it started is skipped without work", async () => {
    const { buildId } = await world.createAppAndBuild({ sha: shaA });
    await world.records.builds.transition(buildId, ["queued"], { status: "canceled", canceledBy: "superseded" });
    const { result, error } = await builder.run(buildId);
    expect(error).toBeUndefined();
    expect(result).toEqual({ outcome: "skipped", status: "canceled" });
    expect(await builder.logLines(buildId)).toEqual([]);
    expect((await world.records.builds.require(buildId)).startedAt).toBeUndefined();
  });

  it("a wrong deploy key fails with permission denied (publickey)", async () => {
    const { buildId } = await world.createAppAndBuild({ sha: shaA, key: makeKeypair() });
    const { error } = await builder.run(buildId);
    expect(error?.message).toBe("clone: permission denied (publickey)");
    expect(await world.records.builds.require(buildId)).toMatchObject({ status: "failed", reason: "clone: permission denied (publickey)" });
  }, 60_000);

  it("a changed host key fails with host key changed, and a pinned matching key works", async () => {
    const bad = await world.createAppAndBuild({ sha: shaA, hostKeys: [wrongHostKeyLine()] });
    const { error } = await builder.run(bad.buildId);
    expect(error?.message).toBe("clone: host key changed for 127.0.0.1");
    expect((await world.records.builds.require(bad.buildId)).status).toBe("failed");

    const good = await world.createAppAndBuild({ sha: shaA, hostKeys: [sshHostKeyLine()] });
    const ok = await builder.run(good.buildId);
    expect(ok.error).toBeUndefined();
    expect((await world.records.builds.require(good.buildId)).status).toBe("succeeded");
  }, 120_000);

  it("a key the builder pinned (under its own key) that the host no longer has is refused, and is not re-pinned", async () => {
    const { app, buildId } = await world.createAppAndBuild({ sha: shaA });
    const wrong = wrongHostKeyLine();
    expect(await world.records.apps.pinHostKeys(app, [wrong])).toBe(true);
    const { error } = await builder.run(buildId);
    expect(error?.message).toBe("clone: host key changed for 127.0.0.1");
    expect((await world.records.apps.require(app)).hostKeys).toEqual([wrong]);
  }, 60_000);

  it("a context that leaves the repository fails before any build, also through a symlink", async () => {
    const sha = world.repo.commit({ "docker-compose.yml": "services:\n  web:\n    build: ../x\n" }, "escape");
    const a = await world.createAppAndBuild({ sha });
    expect((await builder.run(a.buildId)).error?.message).toBe("compose: context ../x leaves the repository");

    const sha2 = world.repo.commit(
      { "docker-compose.yml": "services:\n  web:\n    build: ./out\n", out: { symlink: "/etc" } },
      "symlink escape",
    );
    const b = await world.createAppAndBuild({ sha: sha2 });
    expect((await builder.run(b.buildId)).error?.message).toBe("compose: context out leaves the repository");
    const lines = await builder.logLines(b.buildId);
    expect(lines.some((l) => l.startsWith("build "))).toBe(false);
    expect(await registryTags(world.registry, b.app)).toEqual([]);
  }, 60_000);

  it("a compose file, .env or .dockerignore that links out of the repository is refused before it is opened (a FIFO would block for ever)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hoist-fifo-"));
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    try {
      const compose = "services:\n  web:\n    build: .\n";
      const cases: [Record<string, FileSpec | null>, string][] = [
        [{ "docker-compose.yml": { symlink: fifo } }, "compose: compose file docker-compose.yml leaves the repository"],
        [
          { "docker-compose.yml": compose, Dockerfile: "FROM busybox\n", ".env": { symlink: fifo } },
          "compose: .env .env leaves the repository",
        ],
        [{ ".env": null, ".dockerignore": { symlink: fifo } }, "compose: ignore file .dockerignore leaves the repository"],
      ];
      for (const [files, reason] of cases) {
        const { buildId } = await world.createAppAndBuild({ sha: world.repo.commit(files, "fifo") });
        expect((await builder.run(buildId)).error?.message).toBe(reason);
      }
    } finally {
      world.repo.commit({ ".dockerignore": null, "docker-compose.yml": null }, "no fifo");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a build past its timeout, also one taken over from a dead worker, fails as timed out", async () => {
    const { buildId } = await world.createAppAndBuild({ sha: shaA, buildTimeoutSec: 30 });
    // Started 31 s ago by a worker that died: the deadline has passed.
    await world.records.builds.transition(buildId, ["queued"], {
      status: "running",
      startedAt: new Date(Date.now() - 31_000).toISOString(),
    });
    const { error } = await builder.run(buildId);
    expect(error?.message).toBe("timed out");
    expect(await world.records.builds.require(buildId)).toMatchObject({ status: "failed", reason: "timed out" });
  }, 60_000);

  it("a build that reaches its timeout mid-build is stopped and fails as timed out", async () => {
    const sha = world.repo.commit({ "docker-compose.yml": null, Dockerfile: 'FROM busybox\nRUN sleep 30\nCMD ["true"]\n' }, "too slow");
    const { app, buildId } = await world.createAppAndBuild({ sha, buildTimeoutSec: 30, noCache: true });
    // The 30 s minimum timeout, 27 s of it already spent: about 3 s are left for the build.
    await world.records.builds.transition(buildId, ["queued"], {
      status: "running",
      startedAt: new Date(Date.now() - 27_000).toISOString(),
    });
    const t0 = performance.now();
    const { error } = await builder.run(buildId);
    expect(error?.message).toBe("timed out");
    expect(performance.now() - t0).toBeLessThan(10_000);
    const build = await world.records.builds.require(buildId);
    expect(build).toMatchObject({ status: "failed", reason: "timed out" });
    expect(build.logTail?.some((l) => /STEP 2\/3: RUN sleep 30/.test(l))).toBe(true);
    expect(await registryTags(world.registry, app)).toEqual([]);
  }, 60_000);

  it("an unreachable registry is retried, and the last failed attempt leaves the build failed", async () => {
    const down = await startTestBuilder(world, { registry: "127.0.0.1:1" });
    await builder.close();
    try {
      const { buildId } = await world.createAppAndBuild({ sha: shaA });
      const { error } = await down.run(buildId, { attempts: 2, backoff: { type: "fixed", delay: 100 } });
      expect(error?.message).toMatch(/^push (web|worker): registry unreachable or failing: .*connection refused/);
      const build = await world.records.builds.require(buildId);
      expect(build.status).toBe("failed");
      expect(build.reason).toBe(error?.message);
      const lines = await down.logLines(buildId);
      expect(lines).toContain("retry: attempt 1 of 2 failed; retrying");
      expect(lines.some((l) => l.startsWith("start: resuming build #"))).toBe(true);
      expect(lines.at(-1)).toBe("[end failed]");
    } finally {
      await down.close();
      builder = await startTestBuilder(world);
    }
  }, 90_000);

  it("cancel mid-build aborts within 2 s and pushes nothing", async () => {
    const sha = world.repo.commit({ "docker-compose.yml": null, Dockerfile: 'FROM busybox\nRUN sleep 20\nCMD ["true"]\n' }, "slow");
    const { app, buildId } = await world.createAppAndBuild({ sha, noCache: true });
    const done = builder.run(buildId);
    // Wait until the build is inside the RUN step.
    const { followLog, buildLogKey } = await import("@hoist/shared");
    const { testRedis } = await import("@hoist/shared/testing");
    const blocking = testRedis();
    for await (const e of followLog(blocking, buildLogKey(world.prefix, buildId), { blockMs: 200 })) {
      if (e.kind === "line" && /STEP 2\/3: RUN sleep/.test(e.line)) break;
    }
    blocking.disconnect();
    const t0 = performance.now();
    await builder.cancel(buildId);
    const { result } = await done;
    const ms = performance.now() - t0;
    expect(result).toEqual({ outcome: "canceled" });
    expect(ms).toBeLessThan(2_000);
    expect((await world.records.builds.require(buildId)).status).toBe("canceled");
    expect(await registryTags(world.registry, app)).toEqual([]);
    expect((await builder.logLines(buildId)).at(-1)).toBe("[end canceled]");
    expect(readdirSync(world.workDir)).toEqual([]);
  }, 60_000);
});
