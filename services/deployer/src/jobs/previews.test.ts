import type Docker from "dockerode";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type CaddyProcess, removeCaddyDir, startCaddy } from "../../../../test/support/caddy.js";
import { removeLocalApp } from "../../../../test/support/deploy/cleanup.js";
import { builderTag, buildHttpAppImage } from "../../../../test/support/deploy/http-app.js";
import { getViaHost } from "../../../../test/support/net.js";
import { testRegistryTags } from "../../../../test/support/registry/auth.js";
import { pushTestImage } from "../../../../test/support/registry/push.js";
import { caddyEdgeProvider, type EdgeProvider } from "../adapters/caddy/provider.js";
import { createDocker } from "../adapters/clients.js";
import { LABELS, LocalTarget } from "../adapters/local-target.js";
import { closePreview, type PreviewNotice } from "../domain/previews.js";
import { DeployerHarness } from "../testing/harness.js";
import { freePort } from "../testing/ports.js";
import { previewPorts } from "./previews.js";

/**
 * The previews wiring on real Redis, podman and Caddy: a preview's release going live moves its
 * preview live; its teardown, interrupted and run again, removes containers, route, network and
 * environment, and a third run finds nothing to do.
 */
const docker: Docker = createDocker();
let image = "";

beforeAll(async () => {
  if (!process.env.DOCKER_HOST) throw new Error("DOCKER_HOST is not set: run through vitest's global setup with podman");
  image = await buildHttpAppImage(docker, builderTag("prevwire", "web", 1), "preview wiring");
}, 120_000);
afterAll(async () => {
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => {});
});

let h: DeployerHarness | undefined;
let caddy: CaddyProcess | undefined;
let edges: EdgeProvider | undefined;
const app = `prevwire-${process.pid}`;
const unit = `${app}@mr-1`;

afterEach(async () => {
  await removeLocalApp(docker, unit);
  await h?.close();
  await edges?.close();
  await caddy?.stop();
  if (caddy) removeCaddyDir(caddy.dir);
  h = undefined;
  edges = undefined;
  caddy = undefined;
});

describe("previews wiring (Redis, podman, Caddy)", () => {
  it("a preview follows its release to live; its teardown converges when interrupted and is a no-op once done", async () => {
    caddy = await startCaddy();
    const hostsPort = await freePort();
    edges = caddyEdgeProvider({ adminUrl: caddy.adminUrl, hostsListen: [`127.0.0.1:${hostsPort}`], hostsHttp: true });
    h = new DeployerHarness();
    const created = await h.createApp(app, { kind: "local", services: { web: { port: await freePort(), healthPath: "/healthz" } } });
    const record =
      (await h.records.apps.update(app, {
        previews: { enabled: true, from: "production", ttlHours: 72, max: 5, hosts: "mr-{iid}.{app}.{domain}", forks: false },
      })) ?? created;
    const notices: PreviewNotice[] = [];
    const deps = { ...h.deps({ edges }), domain: "localhost", notice: async (n: PreviewNotice) => void notices.push(n) };
    const ports = previewPorts(deps, new LocalTarget(deps.docker, { stopTimeoutS: 1, edges, drainS: 1 }));
    h.startWorker({ edges, drainS: 1 });

    const host = `mr-1.${app}.localhost`;
    await ports.putEnvironment(record, "mr-1", { kind: "local", services: { web: { hosts: [host], healthPath: "/healthz" } } }, undefined);
    const release = await h.createRelease(app, [{ service: "web", tag: image }], {}, { environment: "mr-1" });
    const base = { sha: "a".repeat(40), sourceBranch: "feature", fork: false };
    expect(await ports.upsertPreview(app, 1, { ...base, status: "building", url: `http://${host}` })).toBe(true);
    await ports.patchPreview(app, 1, { buildId: release.buildId });
    expect((await h.deploy(release.id)).release.status).toBe("live");
    expect(await h.records.previews.get(app, 1)).toMatchObject({ status: "live", buildId: release.buildId });
    expect(await getViaHost(hostsPort, host)).toBe("200 preview wiring");
    expect(await docker.listContainers({ filters: { label: [`${LABELS.app}=${unit}`] } })).toHaveLength(1);

    // Interrupted after the containers went (the environment's delete fails once), then run again.
    const job = { kind: "close", app, iid: 1, reason: "closed", deliveryId: "c1" } as const;
    const crashing = {
      ...ports,
      deleteEnvironment: async () => {
        throw new Error("deployer killed");
      },
    };
    await expect(closePreview(crashing, job)).rejects.toThrow("deployer killed");
    expect(await h.records.previews.get(app, 1)).toMatchObject({ status: "stopping" });
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${unit}`] } })).toEqual([]);
    const done = await closePreview(ports, job);
    expect(done).toMatchObject({ kind: "stopped" });
    expect(await h.records.previews.get(app, 1)).toMatchObject({ status: "stopped", reason: "the merge request was closed" });
    expect(await h.records.environments.get(record, "mr-1")).toBeUndefined();
    expect((await (await edges.edge()).snapshot()).filter((r) => r.app === unit)).toEqual([]);
    expect(await getViaHost(hostsPort, host)).not.toContain("preview wiring");
    expect((await docker.listNetworks()).map((n) => n.Name)).not.toContain(`hoist-app-${app}_mr-1`);
    expect(notices).toEqual([{ event: "preview.stopped", app, iid: 1, reason: "the merge request was closed", id: "c1" }]);
    expect(await closePreview(ports, job)).toEqual({ kind: "already" });
    expect(notices).toHaveLength(1);
  }, 120_000);

  it("a teardown removes the MR builds' tags from the registry, but none whose image another build or release uses", async () => {
    h = new DeployerHarness();
    const tagsApp = `prevtags-${process.pid}`;
    await h.createApp(tagsApp, { kind: "local", services: { web: { port: await freePort() } } });
    const other = await buildHttpAppImage(docker, builderTag("prevtags", "web", 2), "main's build");
    try {
      // web.1: the MR's own image; web.2: production's; web.3: an MR build whose image equals production's.
      const own = await pushTestImage(docker, image, tagsApp, "web.1");
      const prod = await pushTestImage(docker, other, tagsApp, "web.2");
      const same = await pushTestImage(docker, other, tagsApp, "web.3");
      expect(same.digest).toBe(prod.digest);
      const mrBuild = async (ref: string, digest: string) => {
        const b = await h?.records.builds.create({
          app: tagsApp,
          ref: "refs/merge-requests/1/head",
          sha: "b".repeat(40),
          trigger: "push",
          preview: { iid: 1 },
        });
        await h?.records.builds.patch(b?.id as string, { status: "succeeded", images: [{ service: "web", tag: ref, digest }] });
      };
      await mrBuild(own.ref, own.digest);
      await mrBuild(same.ref, same.digest);
      await h.createRelease(tagsApp, [{ service: "web", tag: prod.ref, digest: prod.digest }]);
      const deps = { ...h.deps(), domain: "localhost", notice: async () => {} };
      const ports = previewPorts(deps, new LocalTarget(deps.docker, { stopTimeoutS: 1, edges: deps.edges, drainS: 1 }));
      await ports.upsertPreview(tagsApp, 1, { sha: "b".repeat(40), sourceBranch: "feature", fork: false, status: "building" });

      const job = { kind: "close", app: tagsApp, iid: 1, reason: "merged", deliveryId: "t1" } as const;
      expect(await closePreview(ports, job)).toMatchObject({
        kind: "stopped",
        tags: {
          removed: [own.ref],
          kept: [{ tag: same.ref, reason: `another build or release of the app uses its image ${prod.digest}` }],
        },
      });
      expect((await testRegistryTags(tagsApp)).sort()).toEqual(["web.2", "web.3"]);
      // A rerun (a crash before stopped) finds the tag gone and removes nothing else.
      expect(await ports.removeTags([{ service: "web", tag: own.ref, digest: own.digest }], new Set())).toEqual({
        removed: [own.ref],
        kept: [],
      });
      expect((await testRegistryTags(tagsApp)).sort()).toEqual(["web.2", "web.3"]);
    } finally {
      for (const n of [1, 2, 3])
        await docker
          .getImage(`${builderTag(tagsApp, "web", n)}`)
          .remove()
          .catch(() => {});
      await docker
        .getImage(other)
        .remove({ force: true })
        .catch(() => {});
    }
  }, 120_000);
});
