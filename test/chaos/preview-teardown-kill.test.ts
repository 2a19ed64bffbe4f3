import { randomInt } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDocker } from "../../services/deployer/src/adapters/clients.js";
import { LABELS } from "../../services/deployer/src/adapters/local-target.js";
import { DeployerHarness } from "../../services/deployer/src/testing/harness.js";
import { removeLocalApp } from "../support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../support/deploy/http-app.js";
import { getViaHost } from "../support/net.js";
import { type ServiceProcess, startService } from "../support/processes.js";
import { freePort } from "./private-redis.js";
import { untilSettled } from "./support.js";

/**
 * Review apps (#19): kill -9 the deployer at random points of a preview's teardown, round after
 * round; the next deployer takes the job over and a last one finishes it: nothing of the preview
 * is left (containers, network, route, environment) and it is `stopped` once.
 */
const KILLS = Number(process.env.HOIST_CHAOS_TEARDOWN_KILLS ?? 4);
const docker = createDocker();
const app = `chaos-prev-${process.pid}`;
const unit = `${app}@mr-1`;
const host = `mr-1.${app}.localhost`;

describe("chaos: deployer killed with kill -9 mid-teardown of a preview", () => {
  const h = new DeployerHarness();
  const dir = mkdtempSync(join(tmpdir(), "hoist-chaos-preview-"));
  const running: ServiceProcess[] = [];
  let image = "";
  let hostsPort = 0;

  beforeAll(async () => {
    writeFileSync(join(dir, "master.key"), h.masterKey.toString("base64"), { mode: 0o600 });
    // Ignores SIGTERM: each container takes the whole stop timeout, so the teardown lasts seconds.
    image = await buildHttpAppImage(docker, builderTag(app, "web", 1), "chaos preview", "ignores-sigterm");
    hostsPort = await freePort();
    const created = await h.createApp(app, { kind: "local", services: { web: { port: await freePort(), healthPath: "/healthz" } } });
    const record =
      (await h.records.apps.update(app, {
        previews: { enabled: true, from: "production", ttlHours: 72, max: 5, hosts: "mr-{iid}.{app}.{domain}", forks: false },
      })) ?? created;
    await h.records.environments.create(record, {
      name: "mr-1",
      target: { kind: "local", services: { web: { hosts: [host], healthPath: "/healthz", replicas: 3 } } },
    });
  }, 120_000);
  afterAll(async () => {
    for (const p of running) await p.stop("SIGKILL");
    await removeLocalApp(docker, unit);
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => {});
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({
    REDIS_URL: process.env.REDIS_URL as string,
    DOCKER_HOST: process.env.DOCKER_HOST as string,
    HOIST_QUEUE_PREFIX: h.prefix,
    HOIST_DATA_DIR: dir,
    HOIST_MASTER_KEY_FILE: join(dir, "master.key"),
    HOIST_DEPLOY_LOCK_RETRY_MS: "100",
    HOIST_DEPLOY_LOCK_TTL_MS: "1500",
    HOIST_DEPLOY_STALLED_MS: "1500",
    HOIST_LOCAL_STOP_TIMEOUT_S: "2",
    HOIST_LOCAL_DRAIN_S: "1",
    HOIST_CADDY_HOSTS_LISTEN: `127.0.0.1:${hostsPort}`,
    HOIST_CADDY_HOSTS_HTTP: "true",
  });
  const containers = async () => docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${unit}`] } });
  const start = async () => {
    const p = startService("deployer", env());
    running.push(p);
    await p.waitForLog(/"msg":"ready"/, 60_000);
    return p;
  };

  it(`${KILLS} kills mid-teardown: the last deployer finishes it; nothing of the preview is left`, async () => {
    const t0 = performance.now();
    // The preview, live: three containers behind its host route.
    const release = await h.createRelease(app, [{ service: "web", tag: image }], {}, { environment: "mr-1" });
    await h.records.previews.upsert(app, 1, {
      sha: "a".repeat(40),
      sourceBranch: "feature",
      fork: false,
      status: "building",
      buildId: release.buildId,
    });
    await h.queues.enqueue("deploy", { kind: "deploy", releaseId: release.id });
    let deployer = await start();
    await untilSettled(
      () => h.records.previews.get(app, 1),
      (p) => p?.status === "live",
      90_000,
      100,
    );
    expect(await getViaHost(hostsPort, host)).toBe("200 chaos preview");
    expect(await containers()).toHaveLength(3);

    await h.queues.enqueue("previews", { kind: "close", app, iid: 1, reason: "merged", deliveryId: "chaos-m1" });
    let killedMidTeardown = 0;
    for (let k = 0; k < KILLS; k++) {
      await untilSettled(
        () => h.records.previews.get(app, 1),
        (p) => p?.status !== "live",
        30_000,
        20,
      );
      await new Promise((r) => setTimeout(r, randomInt(0, 2_500)));
      const before = await h.records.previews.get(app, 1);
      const left = (await containers()).length;
      if (before?.status === "stopping" && left > 0) killedMidTeardown++;
      await deployer.stop("SIGKILL");
      if (before?.status === "stopped") break;
      deployer = await start();
    }
    if (deployer.child.exitCode === null && deployer.child.signalCode === null) await deployer.stop("SIGKILL");
    await start();
    const done = await untilSettled(
      () => h.records.previews.get(app, 1),
      (p) => p?.status === "stopped",
      90_000,
      100,
    );
    const jobs = await h.queues.queue("previews").getJobCounts("active", "waiting", "delayed", "completed", "failed");
    console.log(
      `chaos preview teardown: ${KILLS} kills (${killedMidTeardown} mid-teardown with containers left); stopped "${done?.reason}"; ` +
        `previews jobs ${JSON.stringify(jobs)}; ${Math.round(performance.now() - t0)} ms`,
    );
    expect(done).toMatchObject({ status: "stopped", reason: "the merge request was merged" });
    expect(await containers()).toEqual([]);
    expect(await getViaHost(hostsPort, host)).not.toContain("chaos preview");
    expect((await docker.listNetworks()).map((n) => n.Name)).not.toContain(`hoist-app-${app}_mr-1`);
    expect(await h.records.environments.get(await h.records.apps.require(app), "mr-1")).toBeUndefined();
    // Every kill that lands while the job runs counts as a stall: past BullMQ's limit (3) the job fails,
    // and the next reconcile gives the preview a new teardown job (enforcePreviewLimits), which ends it.
    const failed = await h.queues.queue("previews").getJobs(["failed"]);
    expect(failed.map((j) => j.failedReason)).toEqual(failed.length ? [expect.stringMatching(/stalled more than allowable limit/)] : []);
    // Said on the MR by the teardown job that finished it (the one asked for, or the one that resumed it).
    const notices = (await h.queues.queue("notify").getJobs(["waiting", "delayed", "prioritized", "completed", "failed"])).filter(
      (j) => j.data.kind === "gitlab-mr",
    );
    const said = { kind: "gitlab-mr", event: "preview.stopped", app, iid: 1, reason: "the merge request was merged" };
    if (!failed.length) expect(notices.map((j) => j.data)).toEqual([{ ...said, id: "chaos-m1" }]);
    else {
      // The failed job may have said it before its last kill; the resumed one says it again (one note, edited).
      expect(notices.length).toBeGreaterThanOrEqual(1);
      for (const n of notices) expect(n.data).toEqual({ ...said, id: expect.stringMatching(/^(chaos-m1|resume-\d+)$/) });
    }
    expect(killedMidTeardown).toBeGreaterThan(0);
  }, 400_000);
});
