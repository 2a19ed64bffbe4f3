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
import { type ServiceProcess, startService } from "../support/processes.js";
import { freePort } from "./private-redis.js";
import { untilSettled } from "./support.js";

/** Scenario 1 (deployer): kill -9 a deployer at random points of local rollouts, round after round. */
const KILLS = Number(process.env.HOIST_CHAOS_DEPLOYER_KILLS ?? 20);
/** The final deployer's wait (180 s) plus up to 20 s a round on a 2-core machine shared with other work. */
const TIMEOUT_MS = 180_000 + KILLS * 20_000;
const docker = createDocker();
const app = `chaos-dep-${process.pid}`;
const final = ["live", "retired", "failed", "rolled_back"];

describe("chaos 1: deployer killed with kill -9 mid-rollout", () => {
  const h = new DeployerHarness();
  const dir = mkdtempSync(join(tmpdir(), "hoist-chaos-deployer-"));
  const running: ServiceProcess[] = [];
  const tags: string[] = [];
  let port: number;

  beforeAll(async () => {
    writeFileSync(join(dir, "master.key"), h.masterKey.toString("base64"), { mode: 0o600 });
    // Slow start (3 s before healthy) so a kill lands inside the swap more often than not.
    for (let i = 0; i < 2; i++) tags.push(await buildHttpAppImage(docker, builderTag(app, "web", i + 1), `chaos ${i}`, "slow-start"));
    port = await freePort();
    await h.createApp(app, { kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 30 } } });
  }, 120_000);
  afterAll(async () => {
    for (const p of running) await p.stop("SIGKILL");
    await removeLocalApp(docker, app);
    for (const t of tags)
      await docker
        .getImage(t)
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
    HOIST_LOCAL_STOP_TIMEOUT_S: "1",
  });

  it(
    `${KILLS} kills mid-rollout: every release ends, the newest is live and serving, one set of containers, each goes live at most once`,
    async () => {
      const t0 = performance.now();
      const releases: string[] = [];
      let killedDeploying = 0;
      for (let k = 0; k < KILLS; k++) {
        const r = await h.createRelease(app, [{ service: "web", tag: tags[k % 2] as string }], { GREETING: `round ${k}` });
        releases.push(r.id);
        await h.queues.enqueue("deploy", { kind: "deploy", releaseId: r.id });
        const p = startService("deployer", env());
        running.push(p);
        // Generous: a process start on a 2-core machine shared with other work can take many seconds.
        await p.waitForLog(/"msg":"ready"/, 60_000);
        await untilSettled(
          () => h.records.releases.require(r.id),
          (x) => x.status !== "pending",
          30_000,
          20,
        );
        await new Promise((res) => setTimeout(res, randomInt(0, 3_000)));
        if ((await h.records.releases.require(r.id)).status === "deploying") killedDeploying++;
        await p.stop("SIGKILL");
      }
      const last = startService("deployer", env());
      running.push(last);
      const all = await untilSettled(
        () => Promise.all(releases.map((id) => h.records.releases.require(id))),
        (rs) => rs.every((r) => final.includes(r.status)),
        180_000,
        250,
      );
      const live = all.filter((r) => r.status === "live");
      const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${app}`] } });
      const served = await fetch(`http://127.0.0.1:${port}/env.txt`).then((r) => r.text());
      const logs = await Promise.all(releases.map((id) => h.logLines(id)));
      const wentLive = logs.map((lines) => lines.filter((l) => l.startsWith("live")).length);
      // A container started for the release: a rollout attempt (a killed one is taken over by the next deployer).
      const attempts = logs.map((lines) => lines.filter((l) => l.startsWith("started ")).length);
      const notify = await h.notifyJobIds();
      const liveNotices = releases.map((id) => notify.filter((n) => n === `slack.release.live.${id}`).length);
      const byStatus = Object.fromEntries(final.map((s) => [s, all.filter((r) => r.status === s).length]));
      const reasons = [...new Set(all.filter((r) => r.status === "failed").map((r) => r.reason))];
      console.log(
        `chaos 1 deployer: ${KILLS} kills (${killedDeploying} while deploying), ${releases.length} releases: ${JSON.stringify(byStatus)}; ` +
          `live ${live.map((r) => releases.indexOf(r.id)).join(",")} serving "${served.trim()}"; containers ${containers.length}; ` +
          `"live" per release ${wentLive.join("/")}; rollout attempts per release ${attempts.join("/")}; failure reasons ${JSON.stringify(reasons)}; ${Math.round(performance.now() - t0)} ms`,
      );
      expect(live).toHaveLength(1);
      const newestLive = live[0];
      expect(served.trim()).toBe(`round ${releases.indexOf(newestLive?.id as string)}`);
      // The live one is the newest that did not fail on its own.
      const newestOk = [...all].reverse().find((r) => r.status !== "failed");
      expect(newestLive?.id).toBe(newestOk?.id);
      expect(containers.map((c) => [c.Labels[LABELS.release], c.State])).toEqual([[newestLive?.id, "running"]]);
      for (const n of wentLive) expect(n).toBeLessThanOrEqual(1);
      // A release that did not go live was superseded by a newer one, or its deployers were killed
      // under it more often than MAX_STALLED_COUNT allows; never a rollout that failed on its own.
      for (const reason of reasons) expect(reason).toMatch(/^superseded$|the worker running it stopped \(crash or kill\) \d+ times/);
      for (const n of liveNotices) expect(n).toBeLessThanOrEqual(1);
      expect(killedDeploying).toBeGreaterThan(0);
      expect((await h.queues.queue("deploy").getJobCounts("active", "waiting", "delayed")).active).toBe(0);
    },
    TIMEOUT_MS,
  );
});
