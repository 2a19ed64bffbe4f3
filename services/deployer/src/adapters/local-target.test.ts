import { appRegistryUser } from "@hoist/shared";
import type Docker from "dockerode";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { removeLocalApp } from "../../../../test/support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../../../../test/support/deploy/http-app.js";
import { testRegistryAuth } from "../../../../test/support/registry/auth.js";
import { DeployerHarness } from "../testing/harness.js";
import { freePort } from "../testing/ports.js";
import { createDocker } from "./clients.js";
import { appNetworkName, LABELS, LIMITS } from "./local-target.js";

const docker: Docker = createDocker();
const images: Record<string, string> = {};

beforeAll(async () => {
  if (!process.env.DOCKER_HOST) throw new Error("DOCKER_HOST is not set: run through vitest's global setup with podman");
  images.v1 = await buildHttpAppImage(docker, builderTag("shop", "web", 1), "shop build 1");
  images.v2 = await buildHttpAppImage(docker, builderTag("shop", "web", 2), "shop build 2");
  images.bad = await buildHttpAppImage(docker, builderTag("shop", "web", 3), "shop build 3", "unhealthy");
  images.stubborn = await buildHttpAppImage(docker, builderTag("shop", "web", 4), "shop build 4", "ignores-sigterm");
}, 120_000);

let h: DeployerHarness;
let port: number;
let app: string;
let n = 0;

beforeEach(async () => {
  h = new DeployerHarness();
  port = await freePort();
  app = `shop-${process.pid}-${++n}`;
  await h.createApp(app, { kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 3 } } });
});

async function appContainers() {
  return docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${app}`] } });
}

afterEach(async () => {
  await removeLocalApp(docker, app);
  await h.close();
});
afterAll(async () => {
  for (const tag of Object.values(images))
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {});
});

async function get(path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: (await res.text()).trim() };
}

describe("local target (podman)", () => {
  it("runs the release on its app's own network with PORT published on loopback, no capabilities, a non-root user, limits, labels and restart policy, then swaps to the next release", async () => {
    h.startWorker();
    const r1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }], { GREETING: "hi from env 1" });
    const d1 = await h.deploy(r1.id);
    expect(d1.outcome).toBe("completed");
    expect(d1.release.status).toBe("live");
    expect(await get("/")).toEqual({ status: 200, text: "shop build 1" });
    expect(await get("/env.txt")).toEqual({ status: 200, text: "hi from env 1" });

    const [c1, ...others] = await appContainers();
    expect(others).toEqual([]);
    const info = await docker.getContainer(c1!.Id).inspect();
    expect(info.Config.Labels).toMatchObject({ [LABELS.app]: app, [LABELS.service]: "web", [LABELS.release]: r1.id });
    // The service's port is Caddy's; the container listens on a free loopback port of its own.
    const own = Number(c1!.Labels[LABELS.port]);
    expect(own).not.toBe(port);
    expect(info.Config.Env).toContain(`PORT=${own}`);
    expect(info.Config.Env).toContain("GREETING=hi from env 1");
    // podman's compat API reports a user-defined network as NetworkMode "bridge"; the network is named here.
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([appNetworkName(app)]);
    expect(info.HostConfig.PortBindings).toEqual({ [`${own}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(own) }] });
    expect((await fetch(`http://127.0.0.1:${own}/`).then((r) => r.text())).trim()).toBe("shop build 1");
    // Every default capability dropped (podman lists them without the CAP_ prefix); the isolation test reads CapEff inside.
    expect((info.HostConfig.CapDrop ?? []).map((c: string) => c.replace(/^CAP_/, ""))).toEqual(
      expect.arrayContaining(["CHOWN", "NET_RAW", "NET_BIND_SERVICE", "SETUID", "SETGID", "KILL"]),
    );
    expect(info.HostConfig.CapAdd ?? []).toEqual([]);
    expect(info.HostConfig.SecurityOpt).toContain("no-new-privileges");
    expect(info.Config.User).toBe("65534:65534");
    expect(info.HostConfig.Memory).toBe(LIMITS.memoryMb * 1024 * 1024);
    expect(info.HostConfig.NanoCpus).toBe(LIMITS.cpus * 1e9);
    expect(info.HostConfig.PidsLimit).toBe(LIMITS.pids);
    expect(info.HostConfig.RestartPolicy?.Name).toBe("unless-stopped");

    const r2 = await h.createRelease(app, [{ service: "web", tag: images.v2! }], { GREETING: "hi from env 2" });
    const d2 = await h.deploy(r2.id);
    expect(d2.release.status).toBe("live");
    expect((await h.records.releases.require(r1.id)).status).toBe("retired");
    expect(await get("/")).toEqual({ status: 200, text: "shop build 2" });
    const left = await appContainers();
    expect(left.map((c) => c.Labels[LABELS.release])).toEqual([r2.id]);
    expect(await h.notifyJobIds()).toEqual(expect.arrayContaining([`slack.release.live.${r1.id}`, `slack.release.live.${r2.id}`]));
  });

  it("keeps the old release answering, never touched, when the new one never gets healthy, and says why with its last log lines", async () => {
    h.startWorker();
    const r1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }]);
    expect((await h.deploy(r1.id)).release.status).toBe("live");
    const [before] = await appContainers();
    const startedAt = (await docker.getContainer(before!.Id).inspect()).State.StartedAt;
    const r2 = await h.createRelease(app, [{ service: "web", tag: images.bad! }]);
    const d2 = await h.deploy(r2.id);
    expect(d2.outcome).toBe("failed");
    expect(d2.job.attemptsMade).toBe(1);
    expect(d2.release.status).toBe("failed");
    expect(d2.release.reason).toMatch(/^service web did not become healthy: http:\/\/127\.0\.0\.1:\d+\/healthz answered 404 after 3 s/);
    expect(d2.release.reason).toContain("http-app: /healthz is not provisioned, health checks will fail");
    expect((await h.records.releases.require(r1.id)).status).toBe("live");
    expect(await get("/")).toEqual({ status: 200, text: "shop build 1" });
    const left = await appContainers();
    expect(left.map((c) => [c.Id, c.Labels[LABELS.release], c.State])).toEqual([[before!.Id, r1.id, "running"]]);
    // Never stopped or restarted: the same start time as before the failed deploy.
    expect((await docker.getContainer(before!.Id).inspect()).State.StartedAt).toBe(startedAt);
    const log = await h.logLines(r2.id);
    expect(log.indexOf("removed the new container(s); the serving release was never touched")).toBeLessThan(
      log.findIndex((l) => l.startsWith("failed: ")),
    );
    expect(await h.notifyJobIds()).toContain(`gitlab-status.release.failed.${r2.id}`);
  });

  it("bounds the swap of an old container whose PID 1 ignores SIGTERM by the stop timeout", async () => {
    h.startWorker();
    const r1 = await h.createRelease(app, [{ service: "web", tag: images.stubborn! }]);
    expect((await h.deploy(r1.id)).release.status).toBe("live");
    const r2 = await h.createRelease(app, [{ service: "web", tag: images.v2! }]);
    const started = Date.now();
    const d2 = await h.deploy(r2.id);
    const ms = Date.now() - started;
    expect(d2.release.status).toBe("live");
    expect(await get("/")).toEqual({ status: 200, text: "shop build 2" });
    // stop timeout is 1 s in the harness: SIGKILL follows; the whole swap stays well under the 10 s default.
    expect(ms).toBeGreaterThanOrEqual(1_000);
    expect(ms).toBeLessThan(8_000);
  });

  it("converges once when an attempt dies after creating the new container (the retry removes it and deploys again)", async () => {
    // A podman API that drops the connection right after the second create, as a crash between two steps would.
    let creates = 0;
    const flaky = Object.create(docker) as Docker;
    flaky.createContainer = async (opts) => {
      const c = await docker.createContainer(opts);
      if (++creates === 2) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      return c;
    };
    h.startWorker({ docker: flaky });
    const r1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }]);
    expect((await h.deploy(r1.id)).release.status).toBe("live");
    const r2 = await h.createRelease(app, [{ service: "web", tag: images.v2! }]);
    const d2 = await h.deploy(r2.id, { attempts: 3 });
    expect(d2.outcome).toBe("completed");
    // BullMQ counts the successful attempt too: one failed, one completed.
    expect(d2.job.attemptsMade).toBe(2);
    expect(d2.release.status).toBe("live");
    expect((await h.records.releases.require(r1.id)).status).toBe("retired");
    expect(creates).toBe(3);
    expect(await get("/")).toEqual({ status: 200, text: "shop build 2" });
    expect((await appContainers()).map((c) => c.Labels[LABELS.release])).toEqual([r2.id]);
    const log = await h.logLines(r2.id);
    expect(log.filter((l) => l.startsWith("attempt failed, will retry: socket hang up"))).toHaveLength(1);
    expect(log.some((l) => l.startsWith("removing container") && l.endsWith("left by an earlier attempt"))).toBe(true);
    expect(log.filter((l) => l.startsWith("live"))).toHaveLength(1);
  });

  it("swaps every service of a release together, and leaves all old ones serving when one new service is unhealthy", async () => {
    h.startWorker();
    const adminPort = await freePort();
    await h.records.apps.update(app, {
      target: {
        kind: "local",
        services: {
          web: { port, healthPath: "/healthz", healthTimeout: 3 },
          admin: { port: adminPort, healthPath: "/healthz", healthTimeout: 2 },
        },
      },
    });
    const r1 = await h.createRelease(app, [
      { service: "web", tag: images.v1! },
      { service: "admin", tag: images.v1! },
    ]);
    expect((await h.deploy(r1.id)).release.status).toBe("live");
    expect(await get("/")).toEqual({ status: 200, text: "shop build 1" });
    expect((await (await fetch(`http://127.0.0.1:${adminPort}/`)).text()).trim()).toBe("shop build 1");

    const r2 = await h.createRelease(app, [
      { service: "web", tag: images.v2! },
      { service: "admin", tag: images.bad! },
    ]);
    const d2 = await h.deploy(r2.id);
    expect(d2.release.status).toBe("failed");
    expect(d2.release.reason).toMatch(/^service admin did not become healthy/);
    expect(await get("/")).toEqual({ status: 200, text: "shop build 1" });
    expect((await (await fetch(`http://127.0.0.1:${adminPort}/`)).text()).trim()).toBe("shop build 1");
    const left = await appContainers();
    expect(left.map((c) => `${c.Labels[LABELS.service]}:${c.Labels[LABELS.release] === r1.id ? "r1" : "r2"}:${c.State}`).sort()).toEqual([
      "admin:r1:running",
      "web:r1:running",
    ]);
  });

  it("pulls a release's image from the registry when the host does not have it, and fails at once for one that does not exist", async () => {
    const registry = process.env.HOIST_TEST_REGISTRY;
    if (!registry) throw new Error("HOIST_TEST_REGISTRY is not set: run through vitest's global setup with the registry");
    h.startWorker();
    const tag = await buildHttpAppImage(docker, builderTag(app, "web", 5), "shop build 5 from the registry");
    const pushed = await docker.getImage(tag).push({ authconfig: testRegistryAuth(appRegistryUser(app)) });
    await new Promise((resolve, reject) => docker.modem.followProgress(pushed, (err) => (err ? reject(err) : resolve(undefined))));
    await docker.getImage(tag).remove({ force: true });
    const r1 = await h.createRelease(app, [{ service: "web", tag }]);
    const d1 = await h.deploy(r1.id);
    expect(d1.release.status).toBe("live");
    expect(await h.logLines(r1.id)).toContain(`pulling ${tag}`);
    expect(await get("/")).toEqual({ status: 200, text: "shop build 5 from the registry" });

    const missing = builderTag(app, "web", 404);
    const r2 = await h.createRelease(app, [{ service: "web", tag: missing }]);
    const d2 = await h.deploy(r2.id, { attempts: 3 });
    expect(d2.outcome).toBe("failed");
    expect(d2.job.attemptsMade).toBe(1);
    expect(d2.release.reason).toMatch(new RegExp(`^image ${missing.replace(/[.]/g, "\\.")} cannot be pulled: `));
    expect(await get("/")).toEqual({ status: 200, text: "shop build 5 from the registry" });
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {});
  });

  it("lets two deployers racing on one app deploy one at a time, the newest release ending live", async () => {
    h.startWorker();
    h.startWorker();
    const r1 = await h.createRelease(app, [{ service: "web", tag: images.v1! }]);
    const r2 = await h.createRelease(app, [{ service: "web", tag: images.v2! }]);
    const ends = [h.jobEnd(r1.id), h.jobEnd(r2.id)];
    await Promise.all([
      h.queues.enqueue("deploy", { kind: "deploy", releaseId: r1.id }),
      h.queues.enqueue("deploy", { kind: "deploy", releaseId: r2.id }),
    ]);
    await Promise.all(ends);
    const [s1, s2] = await Promise.all([h.records.releases.require(r1.id), h.records.releases.require(r2.id)]);
    expect(s2.status).toBe("live");
    // r1 either went live first and was retired by r2, or found r2 newer and stood down untouched.
    expect([
      ["retired", undefined],
      ["failed", "superseded"],
    ]).toContainEqual([s1.status, s1.reason]);
    expect(await get("/")).toEqual({ status: 200, text: "shop build 2" });
    expect((await appContainers()).map((c) => c.Labels[LABELS.release])).toEqual([r2.id]);

    // The two deploys never overlapped: one's log ends before the other's starts (stream ids are times).
    const spans = [];
    for (const id of [r1.id, r2.id]) {
      const entries = await h.releaseLog.read(id);
      const started = entries.filter((e) => e.line.startsWith("deploy started"));
      expect(started.length).toBeLessThanOrEqual(1);
      if (started.length) spans.push({ from: started[0]!.id, to: entries.at(-1)!.id });
    }
    spans.sort((a, b) => (a.from < b.from ? -1 : 1));
    if (spans.length === 2) expect(spans[0]!.to < spans[1]!.from).toBe(true);
  });
});
