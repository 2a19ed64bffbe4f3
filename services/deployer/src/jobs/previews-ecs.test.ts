import { afterEach, describe, expect, it } from "vitest";
import { type EcsTestServer, startEcsServer } from "../../../../test/support/ecs/server.js";
import { ACCOUNT, EcsState } from "../../../../test/support/ecs/state.js";
import { LocalTarget } from "../adapters/local-target.js";
import { closePreview, type PreviewNotice, previewTarget } from "../domain/previews.js";
import { DeployerHarness } from "../testing/harness.js";
import { previewPorts } from "./previews.js";

/**
 * An ECS app's preview through the previews wiring and the real deploy worker, against the ECS
 * test server: its own service is created from the base on the preview's first deploy, and the
 * teardown (run twice) deletes it and nothing else.
 */
const td = (rev: number) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/shop:${rev}`;

let h: DeployerHarness | undefined;
let ecs: EcsTestServer | undefined;
afterEach(async () => {
  await h?.close();
  await ecs?.close();
});

describe("previews of an ECS app", () => {
  it("open deploys to a service of its own made from the base service; close scales it to 0 and deletes it, once", async () => {
    ecs = await startEcsServer(new EcsState({ rolloutMs: 50 }));
    ecs.state.register({ family: "shop", containerDefinitions: [{ name: "app", image: "shop:web.6", essential: true }] });
    ecs.state.addService("prod", "shop-web", td(1));
    h = new DeployerHarness();
    const app = `prevecs-${process.pid}`;
    const created = await h.createApp(app, { kind: "ecs", cluster: "prod", service: "shop-web", containers: { web: "app" } });
    const record =
      (await h.records.apps.update(app, {
        previews: { enabled: true, from: "production", ttlHours: 72, max: 5, hosts: "mr-{iid}.{app}.{domain}", forks: false },
      })) ?? created;
    const notices: PreviewNotice[] = [];
    const deps = {
      ...h.deps({ ecs: h.ecsClients(ecs.url) }),
      domain: "localhost",
      notice: async (n: PreviewNotice) => void notices.push(n),
    };
    const ports = previewPorts(deps, new LocalTarget(deps.docker, { stopTimeoutS: 1, edges: deps.edges, drainS: 1 }));
    h.startWorker({ ecs: h.ecsClients(ecs.url) });

    // As openPreview makes it: the from-environment's target, made the preview's.
    const target = previewTarget(record.target, "mr-7.shop.localhost", 7);
    await ports.putEnvironment(record, "mr-7", target, undefined);
    const release = await h.createRelease(app, [{ service: "web", tag: "127.0.0.1:5000/shop:web.mr7" }], {}, { environment: "mr-7" });
    expect((await h.deploy(release.id)).release.status).toBe("live");
    expect(ecs.state.ops("CreateService")).toMatchObject([
      { cluster: "prod", serviceName: "shop-web-mr-7", taskDefinition: td(1), desiredCount: 1 },
    ]);
    expect(ecs.state.services.get("prod/shop-web-mr-7")?.taskDefinition).toBe(td(2));
    expect(ecs.state.services.get("prod/shop-web")?.taskDefinition).toBe(td(1));

    await ports.upsertPreview(app, 7, { sha: "b".repeat(40), sourceBranch: "feature", fork: false, status: "building" });
    const job = { kind: "close", app, iid: 7, reason: "merged", deliveryId: "m7" } as const;
    expect(await closePreview(ports, job)).toMatchObject({
      kind: "stopped",
      removed: ["ECS service shop-web-mr-7 scaled to 0 and deleted"],
    });
    expect(await closePreview(ports, job)).toEqual({ kind: "already" });
    expect(ecs.state.ops("DeleteService")).toEqual([{ cluster: "prod", service: "shop-web-mr-7" }]);
    expect(ecs.state.services.get("prod/shop-web")?.status).toBe("ACTIVE");
    expect(await h.records.environments.get(record, "mr-7")).toBeUndefined();
    expect(notices.map((n) => n.event)).toEqual(["preview.stopped"]);
  }, 60_000);
});
