import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeLocalApp } from "../../../../test/support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../../../../test/support/deploy/http-app.js";
import { demuxDockerLogs } from "../domain/health.js";
import { DeployerHarness } from "../testing/harness.js";
import { freePort } from "../testing/ports.js";
import { createDocker } from "./clients.js";
import { appNetworkName, LABELS } from "./local-target.js";

/**
 * An app's code is hostile. Two apps deployed on the local target; from inside one of them the
 * host's Redis, the other app's container and the host's processes are out of reach, it has no
 * capabilities, is not root, and a fork bomb stops at its pids limit. Every address tried from
 * inside is a loopback address (the container's own), as everything in these tests is.
 */
const docker: Docker = createDocker();
const h = new DeployerHarness();
const apps = { a: `iso-a-${process.pid}`, b: `iso-b-${process.pid}` };
const ports = { a: 0, b: 0 };
const PIDS = 64;

async function containerOf(app: string): Promise<Docker.Container> {
  const [c] = await docker.listContainers({ filters: { label: [`${LABELS.app}=${app}`] } });
  if (!c) throw new Error(`no running container of ${app}`);
  return docker.getContainer(c.Id);
}

/** Runs `sh -c script` inside the container; returns its exit code and output. */
async function sh(container: Docker.Container, script: string, timeoutMs = 20_000): Promise<{ code: number; out: string }> {
  const exec = await container.exec({ Cmd: ["/bin/busybox", "sh", "-c", script], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on("data", (d: Buffer) => chunks.push(d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec did not end within ${timeoutMs} ms: ${script}`)), timeoutMs);
    stream.on("end", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const info = await exec.inspect();
  return { code: info.ExitCode ?? -1, out: demuxDockerLogs(Buffer.concat(chunks)) };
}

async function answer(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3_000) });
  return (await res.text()).trim();
}

beforeAll(async () => {
  if (!process.env.DOCKER_HOST) throw new Error("DOCKER_HOST is not set: run through vitest's global setup with podman");
  h.startWorker();
  for (const key of ["a", "b"] as const) {
    ports[key] = await freePort();
    const tag = await buildHttpAppImage(docker, builderTag(apps[key], "web", 1), `app ${key}`);
    await h.createApp(apps[key], {
      kind: "local",
      services: { web: { port: ports[key], healthPath: "/healthz", healthTimeout: 10, pids: PIDS } },
    });
    const release = await h.createRelease(apps[key], [{ service: "web", tag }], {});
    const done = await h.deploy(release.id);
    expect(done.release.status).toBe("live");
  }
}, 180_000);

afterAll(async () => {
  for (const app of Object.values(apps)) {
    await removeLocalApp(docker, app);
  }
  await h.close();
});

describe("local target isolation (a hostile app, real podman containers)", () => {
  it("each app answers on its published loopback port only", async () => {
    expect(await answer(ports.a)).toBe("app a");
    expect(await answer(ports.b)).toBe("app b");
    const a = await (await containerOf(apps.a)).inspect();
    const b = await (await containerOf(apps.b)).inspect();
    expect(Object.keys(a.NetworkSettings.Networks)).toEqual([appNetworkName(apps.a)]);
    expect(Object.keys(b.NetworkSettings.Networks)).toEqual([appNetworkName(apps.b)]);
  });

  it("from inside, the host's Redis and the other app's port are unreachable", async () => {
    const redisPort = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379").port || "6379";
    const a = await containerOf(apps.a);
    const ownPort = async (app: string) => (await (await containerOf(app)).inspect()).Config.Labels[LABELS.port];
    // Its own port (its PORT; Caddy serves the app's port) answers inside (so nc works and the network is up) ...
    const own = await sh(a, `echo -e 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 ${await ownPort(apps.a)}`);
    expect(own.out).toContain("app a");
    // ... but loopback inside is the app's own: Redis and the other app are not there.
    const redis = await sh(a, `echo PING | nc -w 2 127.0.0.1 ${redisPort}; echo rc=$?`);
    expect(redis.out).not.toContain("PONG");
    expect(redis.out).not.toContain("NOAUTH");
    for (const port of [ports.b, await ownPort(apps.b)]) {
      const other = await sh(a, `echo -e 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 ${port}; echo rc=$?`);
      expect(other.out).not.toContain("app b");
    }
    // The host's processes are not visible either (own pid namespace).
    const ps = await sh(a, "ls /proc | grep -c '^[0-9]'");
    expect(Number(ps.out.trim())).toBeLessThan(20);
  });

  it("runs as non-root with no capabilities and no way to gain any", async () => {
    const a = await containerOf(apps.a);
    expect((await sh(a, "id -u")).out.trim()).toBe("65534");
    const status = (await sh(a, "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status")).out;
    expect(status).toMatch(/CapEff:\s+0000000000000000/);
    expect(status).toMatch(/CapPrm:\s+0000000000000000/);
    expect(status).toMatch(/CapBnd:\s+0000000000000000/);
    expect(status).toMatch(/NoNewPrivs:\s+1/);
  });

  it("a fork bomb stops at the pids limit; the other app and the host are unharmed", async () => {
    const a = await containerOf(apps.a);
    // Bounded: at most 1000 forks are attempted, each a sleeper that ends by itself in 30 s.
    const bomb = await sh(a, "n=0; while [ $n -lt 1000 ]; do sleep 30 & n=$((n+1)); done; echo started=$n", 60_000);
    // The shell dies at the first fork the limit refuses, long before 1000.
    expect(bomb.out).not.toContain("started=1000");
    expect(bomb.out).toMatch(/can't fork|Resource temporarily unavailable/i);
    const stats = (await a.stats({ stream: false })) as { pids_stats?: { current?: number; limit?: number } };
    const running = stats.pids_stats?.current ?? 0;
    expect(running).toBeLessThanOrEqual(PIDS);
    expect(running).toBeGreaterThan(PIDS / 2);
    expect(await answer(ports.b)).toBe("app b");
  }, 90_000);
});
