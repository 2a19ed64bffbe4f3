import { CreateServiceCommand, DeleteServiceCommand, DescribeServicesCommand, ECSClient, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { afterEach, describe, expect, it } from "vitest";
import { TEST_AWS_CREDENTIALS } from "../aws/json-server.js";
import { type EcsTestServer, startEcsServer } from "./server.js";
import { EcsState, type RolloutScript } from "./state.js";

/** The ECS test server's own behaviour, through the real @aws-sdk/client-ecs, on a clock the test moves. */
let now = Date.now();
let server: EcsTestServer | undefined;
let client: ECSClient | undefined;
afterEach(async () => {
  client?.destroy();
  await server?.close();
});

async function world(script: RolloutScript, maxAttempts = 1) {
  now = Date.now();
  const state = new EcsState({ clock: () => now, rolloutMs: 60_000 });
  const old = String(state.register({ family: "web", containerDefinitions: [{ name: "web", image: "web:1" }] }).taskDefinitionArn);
  const next = String(state.register({ family: "web", containerDefinitions: [{ name: "web", image: "web:2" }] }).taskDefinitionArn);
  state.addService("prod", "web", old, script);
  server = await startEcsServer(state);
  client = new ECSClient({ region: state.region, endpoint: server.url, credentials: TEST_AWS_CREDENTIALS, maxAttempts });
  const ecs = client;
  const deployments = async () => {
    const out = await ecs.send(new DescribeServicesCommand({ cluster: "prod", services: ["web"] }));
    return (out.services?.[0]?.deployments ?? []).map((d) => ({
      taskDefinition: d.taskDefinition,
      status: d.status,
      rolloutState: d.rolloutState,
    }));
  };
  const update = () =>
    ecs.send(
      new UpdateServiceCommand({
        cluster: "prod",
        service: "web",
        taskDefinition: next,
        deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
      }),
    );
  return { state, old, next, deployments, update, ecs };
}

describe("ECS test server", () => {
  it("settles a rollout when its time has passed on the server's clock, however often DescribeServices asks", async () => {
    const w = await world({ kind: "complete" });
    await w.update();
    for (let i = 0; i < 25; i++) {
      expect((await w.deployments())[0]).toEqual({ taskDefinition: w.next, status: "PRIMARY", rolloutState: "IN_PROGRESS" });
    }
    now += 59_999;
    expect((await w.deployments())[0]?.rolloutState).toBe("IN_PROGRESS");
    now += 1;
    expect(await w.deployments()).toEqual([{ taskDefinition: w.next, status: "PRIMARY", rolloutState: "COMPLETED" }]);
    const settled = (await w.ecs.send(new DescribeServicesCommand({ cluster: "prod", services: ["web"] }))).services?.[0]?.deployments?.[0];
    // ECS stamps the time the deployment settled, not the time it was asked about.
    expect(settled?.updatedAt?.getTime()).toBe(now);
  });

  it("plays a circuit-breaker failure and its rollback on the clock, catching up on time nobody asked about", async () => {
    const w = await world({ kind: "fail", afterMs: 10_000, rollbackAfterMs: 30_000, reason: "tasks failed to start" });
    await w.update();
    now += 10_000;
    expect(await w.deployments()).toEqual([
      { taskDefinition: w.old, status: "PRIMARY", rolloutState: "IN_PROGRESS" },
      { taskDefinition: w.next, status: "ACTIVE", rolloutState: "FAILED" },
    ]);
    now += 30_000;
    expect(await w.deployments()).toEqual([{ taskDefinition: w.old, status: "PRIMARY", rolloutState: "COMPLETED" }]);

    // Both steps at once when no one described the service in between.
    await w.update();
    now += 45_000;
    expect(await w.deployments()).toEqual([{ taskDefinition: w.old, status: "PRIMARY", rolloutState: "COMPLETED" }]);
  });

  it("a hung rollout stays in progress whatever the time", async () => {
    const w = await world({ kind: "hang" });
    await w.update();
    now += 4 * 60_000;
    expect((await w.deployments())[0]).toEqual({ taskDefinition: w.next, status: "PRIMARY", rolloutState: "IN_PROGRESS" });
  });

  it("signs its answers' Date with its clock: a client 20 minutes behind is refused once, corrects its clock and retries, as against AWS", async () => {
    const w = await world({ kind: "complete" }, 3);
    now += 20 * 60_000;
    expect(await w.deployments()).toHaveLength(1);
    expect(w.state.rejected).toEqual([
      {
        target: "AmazonEC2ContainerServiceV20141113.DescribeServices",
        type: "InvalidSignatureException",
        message: expect.stringMatching(/^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/),
      },
    ]);
    expect(w.state.ops("DescribeServices")).toHaveLength(1);
  });

  it("creates and deletes services as ECS does: names in use are refused, a scaled service is not deleted, a deleted one drains to INACTIVE", async () => {
    const w = await world({ kind: "complete" });
    const errorOf = (p: Promise<unknown>) => p.then(() => undefined).catch((e: Error) => ({ name: e.name, message: e.message }));
    const create = (serviceName: string, extra: Record<string, unknown> = {}) =>
      w.ecs.send(new CreateServiceCommand({ cluster: "prod", serviceName, taskDefinition: "web", desiredCount: 1, ...extra }));
    expect(await errorOf(create("web"))).toEqual({ name: "InvalidParameterException", message: "Creation of service was not idempotent." });
    expect(await errorOf(create("web-mr-1", { taskDefinition: "nope:1" }))).toEqual({
      name: "ClientException",
      message: "TaskDefinition not found.",
    });
    expect(await errorOf(create("web mr"))).toMatchObject({ name: "InvalidParameterException" });
    expect((await create("web-mr-1")).service).toMatchObject({ serviceName: "web-mr-1", status: "ACTIVE", desiredCount: 1 });
    const del = (force?: boolean) =>
      w.ecs.send(new DeleteServiceCommand({ cluster: "prod", service: "web-mr-1", ...(force ? { force } : {}) }));
    expect(await errorOf(del())).toEqual({
      name: "InvalidParameterException",
      message: "The service cannot be stopped while it is scaled above 0.",
    });
    expect((await del(true)).service).toMatchObject({ status: "DRAINING", desiredCount: 0 });
    expect(await errorOf(del(true))).toEqual({ name: "ServiceNotActiveException", message: "Service was not ACTIVE." });
    expect(await errorOf(create("web-mr-1"))).toMatchObject({ name: "InvalidParameterException" });
    now += 60_000;
    const shown = await w.ecs.send(new DescribeServicesCommand({ cluster: "prod", services: ["web-mr-1"] }));
    expect(shown.services?.[0]?.status).toBe("INACTIVE");
    expect((await create("web-mr-1")).service?.status).toBe("ACTIVE");
  });

  it("refuses a client signing for another region, or with an unknown key, with AWS's codes and status", async () => {
    const w = await world({ kind: "complete" });
    const errorOf = (c: ECSClient) => c.send(new DescribeServicesCommand({ cluster: "prod", services: ["web"] })).catch((e: Error) => e);
    const elsewhere = new ECSClient({ region: "us-east-1", endpoint: server?.url, credentials: TEST_AWS_CREDENTIALS, maxAttempts: 1 });
    const stranger = new ECSClient({
      region: w.state.region,
      endpoint: server?.url,
      credentials: { accessKeyId: "AKIASTRANGER00000001", secretAccessKey: "x" },
      maxAttempts: 1,
    });
    try {
      expect(await errorOf(elsewhere)).toMatchObject({
        name: "InvalidSignatureException",
        message: "Credential should be scoped to a valid region, not 'us-east-1'. ",
        $metadata: { httpStatusCode: 400 },
      });
      expect(await errorOf(stranger)).toMatchObject({
        name: "UnrecognizedClientException",
        message: "The security token included in the request is invalid.",
        $metadata: { httpStatusCode: 400 },
      });
    } finally {
      elsewhere.destroy();
      stranger.destroy();
    }
    expect(w.state.requests).toEqual([]);
  });
});
