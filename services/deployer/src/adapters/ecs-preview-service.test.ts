import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EcsTestServer, startEcsServer } from "../../../../test/support/ecs/server.js";
import { ACCOUNT, EcsState } from "../../../../test/support/ecs/state.js";
import { PermanentDeployError } from "../domain/target.js";
import { DeployerHarness } from "../testing/harness.js";
import { ensurePreviewService } from "./ecs-preview-service.js";
import { EcsDeployTarget, RedisEcsRolloutState } from "./ecs-target.js";

const REGION = "eu-west-1";
const td = (rev: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/shop:${rev}`;
const network = { awsvpcConfiguration: { subnets: ["subnet-0a1b"], securityGroups: ["sg-0c2d"], assignPublicIp: "DISABLED" } };
const preview = { kind: "ecs" as const, cluster: "prod", service: "shop-web-mr-3", previewOf: "shop-web", containers: { web: "app" } };

let ecs: EcsTestServer;
let h: DeployerHarness;
let clock: number;

beforeEach(async () => {
  clock = Date.now();
  ecs = await startEcsServer(new EcsState({ clock: () => clock, rolloutMs: 1_000 }));
  h = new DeployerHarness();
  ecs.state.register({
    family: "shop",
    networkMode: "awsvpc",
    requiresCompatibilities: ["FARGATE"],
    cpu: "256",
    memory: "512",
    containerDefinitions: [{ name: "app", image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:web.6", essential: true }],
  });
  ecs.state.addService("prod", "shop-web", td(1)).networkConfiguration = network;
});
afterEach(async () => {
  await h.close();
  await ecs.close();
});

const target = () => new EcsDeployTarget({ client: h.ecsClients(ecs.url), state: new RedisEcsRolloutState(h.redis, h.prefix), pollMs: 20 });
const describeService = async (name: string) => ecs.state.services.get(`prod/${name}`);

describe("ECS review app services", () => {
  it("creates the preview's service from its base on the first deploy, deploys the MR's image to it alone, and deletes it on teardown (a rerun is a no-op)", async () => {
    h.startWorker({ ecs: h.ecsClients(ecs.url), ecsPollMs: 20 });
    await h.createApp("shop", preview);
    const release = await h.createRelease("shop", [
      { service: "web", tag: "127.0.0.1:5000/shop:web.mr3", digest: `sha256:${"c".repeat(64)}` },
    ]);
    const deploying = h.deploy(release.id);
    // The rollout settles on the server's clock.
    const tick = setInterval(() => {
      clock += 500;
    }, 20);
    const { outcome, release: after } = await deploying.finally(() => clearInterval(tick));
    expect(outcome).toBe("completed");
    expect(after.status).toBe("live");

    expect(ecs.state.ops("CreateService")).toEqual([
      {
        cluster: "prod",
        serviceName: "shop-web-mr-3",
        taskDefinition: td(1),
        desiredCount: 1,
        launchType: "FARGATE",
        networkConfiguration: network,
        deploymentConfiguration: {
          maximumPercent: 200,
          minimumHealthyPercent: 100,
          deploymentCircuitBreaker: { enable: true, rollback: true },
        },
        tags: [{ key: "hoist:preview-of", value: "shop-web" }],
      },
    ]);
    // The base service is read, never changed.
    expect(ecs.state.ops("UpdateService").map((b) => b.service)).toEqual(["shop-web-mr-3"]);
    expect((await describeService("shop-web"))?.taskDefinition).toBe(td(1));
    expect((await describeService("shop-web-mr-3"))?.taskDefinition).toBe(td(2));

    const ecsTarget = target();
    expect(await ecsTarget.removePreview(preview)).toBe("ECS service shop-web-mr-3 scaled to 0 and deleted");
    expect(ecs.state.ops("UpdateService").at(-1)).toEqual({ cluster: "prod", service: "shop-web-mr-3", desiredCount: 0 });
    expect(ecs.state.ops("DeleteService")).toEqual([{ cluster: "prod", service: "shop-web-mr-3" }]);
    expect((await describeService("shop-web-mr-3"))?.status).toBe("DRAINING");
    expect(await ecsTarget.removePreview(preview)).toBe("ECS service shop-web-mr-3 is gone already (DRAINING)");
    expect(ecs.state.ops("DeleteService")).toHaveLength(1);
    expect((await describeService("shop-web"))?.status).toBe("ACTIVE");
  });

  it("waits for a deleted preview service to drain before making it again, and never creates or deletes a service that is not a preview", async () => {
    const ecsTarget = target();
    const steps: string[] = [];
    const step = async (l: string) => void steps.push(l);
    const client = h.ecsClients(ecs.url)(REGION);
    await ensurePreviewService(client, preview, step);
    await ensurePreviewService(client, preview, step);
    expect(ecs.state.ops("CreateService")).toHaveLength(1);
    expect(steps).toEqual(["created review app service shop-web-mr-3 from shop-web (" + td(1) + ", 1 task)"]);
    await ecsTarget.removePreview(preview);
    await expect(ensurePreviewService(client, preview, step)).rejects.toThrow(/still draining/);
    clock += 1_000;
    await ensurePreviewService(client, preview, step);
    expect(ecs.state.ops("CreateService")).toHaveLength(2);

    for (const bad of [
      { kind: "ecs" as const, cluster: "prod", service: "shop-web-mr-3" },
      { ...preview, service: "shop-web", previewOf: "shop-web" },
      { ...preview, service: "shop-api" },
    ]) {
      await expect(ecsTarget.removePreview(bad)).rejects.toThrow(PermanentDeployError);
      await expect(ensurePreviewService(client, bad, step)).rejects.toThrow(/not a review app's service/);
    }
    expect(ecs.state.ops("DeleteService")).toHaveLength(1);
    // A base that is not there is said plainly, and is not retried.
    await expect(ensurePreviewService(client, { ...preview, service: "gone-mr-1", previewOf: "gone" }, step)).rejects.toThrow(
      /base ECS service gone in prod is not there/,
    );
  });
});
