import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerFromEnv, ensureBaseImages } from "../../../../test/support/images/base-images.js";
import { type BuildLimits, defaultBuildCaps } from "../domain/build-limits.js";
import { BuildFailure } from "../domain/failure.js";
import { processesRunning } from "../testing/host.js";
import { type BuildBox, openBuildBox } from "./build-box.js";
import { contextTar } from "./context-tar.js";
import { buildImage } from "./docker.js";

const docker = dockerFromEnv();
const run = randomBytes(3).toString("hex");
/** Every box a test opened, removed at the end even when an assertion stopped the test first. */
const boxes: BuildBox[] = [];

/** podman's own API (pods, and containers with the pod they belong to). */
function libpodGet<T>(path: string, options: object = {}): Promise<T> {
  return new Promise((resolve, reject) =>
    docker.modem.dial({ path: `/v4.0.0${path}?`, method: "GET", options, statusCodes: { 200: true } }, (err, data) =>
      err ? reject(err) : resolve(data as T),
    ),
  );
}

/** What is left on the engine of a build's box: its pod and any container in it, running or not. */
async function leftOf(buildId: string): Promise<string[]> {
  const name = `hoist-build-${buildId}`;
  const pods = await libpodGet<{ Name: string }[]>("/libpod/pods/json");
  const containers = await libpodGet<{ Names: string[]; PodName?: string }[]>("/libpod/containers/json", { all: true });
  return [
    ...pods.filter((p) => p.Name === name).map((p) => `pod ${p.Name}`),
    ...containers.filter((c) => c.PodName === name).map((c) => `container ${c.Names.join(",")}`),
  ];
}

interface Outcome {
  failure?: BuildFailure;
  log: string[];
  box: BuildBox;
  buildId: string;
}

/** Opens a box for a build, removed at the end of the file. */
async function boxFor(buildId: string, pids: number): Promise<BuildBox> {
  const box = await openBuildBox(docker, { name: `hoist-build-${buildId}`, pids, labels: { "hoist.build_id": buildId } });
  boxes.push(box);
  return box;
}

/** Builds one service's one-file context in `box`, as the pipeline builds each compose service. */
async function buildIn(box: BuildBox, buildId: string, service: string, dockerfile: string, full: BuildLimits) {
  const dir = mkdtempSync(join(tmpdir(), "hoist-hostile-"));
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  const log: string[] = [];
  try {
    await buildImage(docker, {
      service,
      tag: `localhost/hoist-hostile-${run}:${service}-${buildId.slice(-6)}`,
      context: contextTar(dir, "Dockerfile"),
      dockerfile: "Dockerfile",
      dockerfileText: dockerfile,
      args: {},
      noCache: true,
      limits: full,
      box,
      signal: new AbortController().signal,
      log: (l) => log.push(l),
    });
    return { log };
  } catch (err) {
    if (!(err instanceof BuildFailure)) throw err;
    return { failure: err, log };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds a one-file context in a box of its own; the box is left for the test to inspect and remove. */
async function hostileBuild(dockerfile: string, limits: Partial<BuildLimits>): Promise<Outcome> {
  const full: BuildLimits = { network: "bridge", ...defaultBuildCaps, ...limits };
  const buildId = `bld_hostile_${run}_${randomBytes(3).toString("hex")}`;
  const box = await boxFor(buildId, full.pids);
  return { ...(await buildIn(box, buildId, "web", dockerfile, full)), box, buildId };
}

/** What the build's steps printed (the Engine API's output without the STEP lines, which quote the Dockerfile). */
const output = (o: Outcome) => o.log.filter((l) => !/^STEP \d+\/\d+:|^error: building at STEP/.test(l)).join("\n");

describe("hostile builds are kept in their box (real podman builds)", () => {
  let api: Server;
  let apiPort: number;
  let apiConnections = 0;
  let redisPort: string;

  beforeAll(async () => {
    await ensureBaseImages();
    // A stand-in for Hoist's API on loopback: it counts every connection that reaches it.
    api = createServer((_req, res) => res.end("API-ANSWERED\n"));
    api.on("connection", () => {
      apiConnections += 1;
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    apiPort = (api.address() as AddressInfo).port;
    redisPort = new URL(process.env.REDIS_URL as string).port || "6379";
  }, 120_000);

  afterAll(async () => {
    for (const box of boxes) await box.remove().catch(() => undefined);
    await new Promise((resolve) => api?.close(resolve));
  });

  it("a step on the default (bridge) network cannot reach the host's Redis or the API on 127.0.0.1", async () => {
    const o = await hostileBuild(
      [
        "FROM busybox",
        `RUN (echo PING | nc -w 2 127.0.0.1 ${redisPort} | grep -q PONG && echo REACHED-REDIS); ` +
          `(wget -q -T 2 -O - http://127.0.0.1:${apiPort}/ && echo REACHED-API); ` +
          "echo links=$(ip -o link | wc -l) probe-done",
        "",
      ].join("\n"),
      { network: "bridge" },
    );
    await o.box.remove();
    expect(o.failure).toBeUndefined();
    expect(output(o)).toContain("probe-done");
    // Its own namespace: loopback and the engine's bridge, not the host's interfaces.
    expect(output(o)).toContain("links=2 probe-done");
    expect(output(o)).not.toMatch(/REACHED-REDIS|REACHED-API|API-ANSWERED/);
    expect(apiConnections).toBe(0);
  }, 120_000);

  it('a step with network "none" has loopback only: no route leads anywhere', async () => {
    const o = await hostileBuild(
      [
        "FROM busybox",
        `RUN (wget -q -T 2 -O - http://127.0.0.1:${apiPort}/ && echo REACHED-API); echo links=$(ip -o link | wc -l) routes=$(ip route | wc -l)`,
        "",
      ].join("\n"),
      { network: "none" },
    );
    await o.box.remove();
    expect(o.failure).toBeUndefined();
    expect(output(o)).toContain("links=1 routes=0");
    expect(output(o)).not.toContain("REACHED-API");
    expect(apiConnections).toBe(0);
  }, 120_000);

  it("a step that allocates past the memory limit fails, saying it ran out of memory, for good", async () => {
    const o = await hostileBuild(["FROM busybox", "RUN dd if=/dev/zero of=/dev/null bs=256M count=1 && echo ALLOCATED", ""].join("\n"), {
      memoryMb: 64,
    });
    await o.box.remove();
    expect(o.failure?.reason).toBe("build web: Dockerfile:2 RUN: out of memory (the build's limit is 64 MB)");
    expect(o.failure?.permanent).toBe(true);
    expect(output(o)).not.toContain("ALLOCATED");
  }, 120_000);

  it("a fork bomb stops at the pids limit and the build fails; nothing of it outlives the box", async () => {
    // Bounded so that a broken limit costs the machine 2000 sleeping processes, not all its pids.
    const o = await hostileBuild(
      ["FROM busybox", "RUN i=0; while [ $i -lt 2000 ]; do sleep 613 & i=$((i+1)); done; echo FORKED-ALL", ""].join("\n"),
      { pids: 64 },
    );
    expect(o.failure?.reason).toBe("build web: Dockerfile:2 RUN exit code 2: out of processes (the build's limit is 64)");
    expect(output(o)).not.toContain("FORKED-ALL");
    // The box held at most its limit of them (the failed shell and the step's runtime count too).
    expect(processesRunning("sleep", "613").length).toBeLessThanOrEqual(64);
    await o.box.remove();
    expect(processesRunning("sleep", "613")).toEqual([]);
    expect(await leftOf(o.buildId)).toEqual([]);
  }, 120_000);

  it("a step past the time limit fails the build and the engine's step is stopped, not left running", async () => {
    const o = await hostileBuild(["FROM busybox", "RUN echo started && sleep 617 && echo SLEPT", ""].join("\n"), { timeoutSec: 10 });
    expect(o.failure?.reason).toBe("build web: build exceeded its 10 s limit");
    expect(o.failure?.permanent).toBe(true);
    expect(output(o)).toContain("started");
    // Stopped before the failure was told: no process of the step is left on the engine's host.
    expect(processesRunning("sleep", "617")).toEqual([]);
    await o.box.remove();
    expect(await leftOf(o.buildId)).toEqual([]);
  }, 120_000);

  it("two services' steps at the same time in one box both run (a compose build builds its services at once)", async () => {
    // Seen failing: one cgroup for every step of the box, removed by whichever step ended first,
    // left the other step's runtime without its cgroup ("runc: exit status 1").
    const full: BuildLimits = { network: "bridge", ...defaultBuildCaps };
    const buildId = `bld_pair_${run}_${randomBytes(3).toString("hex")}`;
    const box = await boxFor(buildId, full.pids);
    const step = (n: number) => `FROM busybox\nRUN sleep 0.${n} && echo ${n} > /n && cat /n\n`;
    const results = await Promise.all(["web", "worker", "cron"].map((service, i) => buildIn(box, buildId, service, step(i + 3), full)));
    expect(results.map((r) => r.failure?.reason)).toEqual([undefined, undefined, undefined]);
    await box.remove();
    expect(await leftOf(buildId)).toEqual([]);
  }, 120_000);
});
