import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildLogKey, readLog } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { builderProcesses } from "../support/builder/processes.js";
import { type BuilderWorld, builderWorld } from "../support/builder/world.js";
import { ensureBaseImages } from "../support/images/base-images.js";
import { freePort, pingSocket } from "../support/net.js";
import type { ServiceProcess } from "../support/processes.js";
import { untilSettled } from "./support.js";

/**
 * The Docker API goes away in the middle of a build: a podman API service of the test's own
 * (same image store as the run's, its own socket) is stopped while a build runs. The build fails
 * with "docker unreachable at <socket>", the builder stays up and its /healthz says docker is
 * down; once podman is back, /healthz recovers and a new build succeeds.
 */
describe("chaos: the Docker API stops mid-build", () => {
  let world: BuilderWorld;
  let procs: ReturnType<typeof builderProcesses>;
  let dir: string;
  let socket: string;
  let podman: ChildProcess | undefined;
  let builder: ServiceProcess;
  let healthPort: number;

  const startPodman = async () => {
    const child = spawn("podman", ["system", "service", "--time=0", `unix://${socket}`], { stdio: "ignore", env: process.env });
    podman = child;
    await untilSettled(
      () => pingSocket(socket),
      (ok) => ok,
      30_000,
      100,
    );
  };
  const stopPodman = async () => {
    const child = podman;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
    return {
      status: res.status,
      body: (await res.json()) as { status: string; reason?: string; dependencies?: { name: string; ok: boolean }[] },
    };
  };

  beforeAll(async () => {
    await ensureBaseImages();
    dir = mkdtempSync(join(tmpdir(), "hoist-docker-away-"));
    socket = join(dir, "podman.sock");
    await startPodman();
    world = await builderWorld("docker-away");
    procs = builderProcesses(world);
    healthPort = await freePort();
    builder = procs.start({
      DOCKER_HOST: `unix://${socket}`,
      HOIST_HEALTH_PORT: String(healthPort),
      HOIST_HEALTH_HOST: "127.0.0.1",
      HOIST_DEPENDENCY_CHECK_MS: "500",
    });
    await builder.waitForLog(/"msg":"ready"/, 60_000);
  }, 120_000);
  afterAll(async () => {
    await procs?.stopAll();
    await stopPodman();
    await world?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fails the build with the reason, keeps the builder up and says docker is down; a build after podman is back succeeds", async () => {
    expect((await health()).body.status).toBe("ok");
    let watched: string | undefined;
    onTestFailed(async () => {
      const log = watched ? await readLog(world.redis, buildLogKey(world.prefix, watched)) : [];
      console.log(`--- build log:\n${log.map((e) => (e.kind === "line" ? `[${e.step}] ${e.line}` : `end ${e.status}`)).join("\n")}`);
      console.log(`--- builder:\n${builder.lines.slice(-40).join("\n")}`);
    });
    const slow = world.repo.commit({ Dockerfile: 'FROM busybox\nRUN echo start && sleep 20\nCMD ["true"]\n' }, "slow build");
    const b = await world.createAppAndBuild({ sha: slow, noCache: true });
    watched = b.buildId;
    await world.queues.enqueue("build", { kind: "build", buildId: b.buildId });
    // Mid-build: podman goes while the engine runs the slow step (the build log says it started).
    await untilSettled(
      async () =>
        (await readLog(world.redis, buildLogKey(world.prefix, b.buildId))).some((e) => e.kind === "line" && /STEP 2\/3/.test(e.line)),
      (started) => started,
      120_000,
      100,
    );
    await stopPodman();

    const failed = await untilSettled(
      () => world.records.builds.require(b.buildId),
      (x) => x.status === "failed" || x.status === "succeeded",
      240_000,
      250,
    );
    expect(failed.status).toBe("failed");
    expect(failed.reason).toMatch(new RegExp(`^docker unreachable at ${socket.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
    expect(builder.child.exitCode).toBeNull();
    const down = await untilSettled(health, (h) => h.body.status === "degraded", 10_000);
    expect(down.status).toBe(200);
    expect(down.body.reason).toMatch(/^docker unreachable at /);
    expect(down.body.dependencies?.find((d) => d.name === "docker")?.ok).toBe(false);

    await startPodman();
    const up = await untilSettled(health, (h) => h.body.status === "ok", 15_000);
    expect(up.body.dependencies?.find((d) => d.name === "docker")?.ok).toBe(true);
    const quick = world.repo.commit({ Dockerfile: 'FROM busybox\nRUN echo back\nCMD ["true"]\n' }, "after podman is back");
    const again = await world.createAppAndBuild({ sha: quick });
    await world.queues.enqueue("build", { kind: "build", buildId: again.buildId });
    const done = await untilSettled(
      () => world.records.builds.require(again.buildId),
      (x) => x.status === "failed" || x.status === "succeeded",
      120_000,
      250,
    );
    expect(done).toMatchObject({ status: "succeeded" });
    expect(builder.child.exitCode).toBeNull();
  }, 360_000);
});
