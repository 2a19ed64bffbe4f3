import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { envSchema } from "../services/api/src/config.js";
import { AppCache } from "../services/api/src/domain/app-cache.js";
import { errorHandler } from "../services/api/src/http/errors.js";
import { releasesRouter } from "../services/api/src/http/routes/releases.js";
import { createDocker } from "../services/deployer/src/adapters/clients.js";
import { DeployerHarness } from "../services/deployer/src/testing/harness.js";
import { freePort } from "../services/deployer/src/testing/ports.js";
import { removeLocalApp } from "./support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "./support/deploy/http-app.js";

/** The API's rollback and the deployer together, on the real podman API. */
const docker = createDocker();
const tags: string[] = [];
let h: DeployerHarness;
let server: Server;
let api: string;
let port: number;
const app = `rollme-${process.pid}`;

beforeAll(async () => {
  tags.push(await buildHttpAppImage(docker, builderTag(app, "web", 1), "rollme build 1"));
  tags.push(await buildHttpAppImage(docker, builderTag(app, "web", 2), "rollme build 2"));
}, 120_000);
afterAll(async () => {
  for (const t of tags)
    await docker
      .getImage(t)
      .remove({ force: true })
      .catch(() => {});
});

beforeEach(async () => {
  h = new DeployerHarness();
  h.startWorker();
  port = await freePort();
  await h.createApp(app, { kind: "local", services: { web: { port, healthPath: "/healthz", healthTimeout: 5 } } });
  const web = express();
  web.use(
    "/v1",
    releasesRouter({
      config: envSchema.parse({ HOIST_API_TOKEN: "t".repeat(32) }),
      log: h.log,
      redis: h.redis,
      records: h.records,
      queues: h.queues,
      secrets: h.secrets,
      apps: new AppCache(h.records),
    }),
  );
  web.use(errorHandler(h.log));
  server = web.listen(0, "127.0.0.1");
  await once(server, "listening");
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await removeLocalApp(docker, app);
  await h.close();
});

const text = async () => (await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim();

describe("rollback (API + deployer, podman)", () => {
  it("POST /apps/:app/rollback deploys a new release of the previous live one; the undone one ends rolled_back", async () => {
    const r1 = await h.createRelease(app, [{ service: "web", tag: tags[0]! }]);
    expect((await h.deploy(r1.id)).release.status).toBe("live");
    const r2 = await h.createRelease(app, [{ service: "web", tag: tags[1]! }]);
    expect((await h.deploy(r2.id)).release.status).toBe("live");
    expect(await text()).toBe("rollme build 2");

    const res = await fetch(`${api}/apps/${app}/rollback`, { method: "POST" });
    expect(res.status).toBe(202);
    const created = (await res.json()) as { id: string; number: number; status: string };
    expect(created).toMatchObject({ number: 3, status: "pending" });
    const end = await h.jobEnd(created.id);
    expect(end.outcome).toBe("completed");

    const r3 = await h.records.releases.require(created.id);
    expect(r3.status).toBe("live");
    expect(r3.sourceReleaseId).toBe(r1.id);
    expect((await h.records.releases.require(r2.id)).status).toBe("rolled_back");
    expect((await h.records.releases.require(r1.id)).status).toBe("retired");
    expect(await text()).toBe("rollme build 1");
    expect(await h.notifyJobIds()).toEqual(expect.arrayContaining([`slack.release.rolled_back.${r2.id}`, `slack.release.live.${r3.id}`]));

    const list = (await (await fetch(`${api}/apps/${app}/releases`)).json()) as { releases: { number: number; status: string }[] };
    expect(list.releases.map((r) => [r.number, r.status])).toEqual([
      [3, "live"],
      [2, "rolled_back"],
      [1, "retired"],
    ]);
  });

  it("POST /apps/:app/releases/:id/promote redeploys a failed release newer than the live one, and it goes live", async () => {
    const r1 = await h.createRelease(app, [{ service: "web", tag: tags[0]! }]);
    expect((await h.deploy(r1.id)).release.status).toBe("live");
    // Release 2 failed for a reason outside itself (here: the app's port was wrong at the time).
    const r2 = await h.createRelease(app, [{ service: "web", tag: tags[1]! }]);
    await h.records.releases.patch(r2.id, {
      status: "failed",
      reason: "service web did not become healthy",
      finishedAt: new Date().toISOString(),
    });

    const ended = new Promise<void>((resolve) => {
      for (const w of h.workers) w.on("completed", (job) => job.data.releaseId === r2.id && resolve());
    });
    const res = await fetch(`${api}/apps/${app}/releases/${r2.id}/promote`, { method: "POST" });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ id: r2.id, number: 2, status: "pending" });
    await ended;
    expect((await h.records.releases.require(r2.id)).status).toBe("live");
    expect((await h.records.releases.require(r1.id)).status).toBe("retired");
    expect(await text()).toBe("rollme build 2");
  });
});
