import { lockKeys } from "@hoist/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AwsTestCredentials, TEST_AWS_CREDENTIALS } from "../../../../test/support/aws/index.js";
import { type EcsTestServer, startEcsServer } from "../../../../test/support/ecs/server.js";
import { ACCOUNT, EcsState, type RolloutScript } from "../../../../test/support/ecs/state.js";
import { deployPorts } from "../jobs/ports.js";
import { reconcileDeps } from "../jobs/reconcile.js";
import { DeployerHarness } from "../testing/harness.js";
import { caddyEdgeProvider } from "./caddy/provider.js";
import { startReconcileLoop } from "./local-reconcile.js";

const REGION = "eu-west-1";
const td = (rev: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/shop:${rev}`;

/** The service's task definition as an operator registered it: two containers, the sidecar must stay as it is. */
const baseTaskDefinition = {
  family: "shop",
  taskRoleArn: `arn:aws:iam::${ACCOUNT}:role/shop-task`,
  executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/ecsTaskExecutionRole`,
  networkMode: "awsvpc",
  requiresCompatibilities: ["FARGATE"],
  cpu: "256",
  memory: "512",
  containerDefinitions: [
    {
      name: "app",
      image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:web.6",
      essential: true,
      portMappings: [{ containerPort: 8080, hostPort: 8080, protocol: "tcp" }],
      environment: [
        { name: "LOG_LEVEL", value: "info" },
        { name: "GREETING", value: "old" },
      ],
      logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": "/ecs/shop", "awslogs-region": REGION } },
    },
    { name: "log-router", image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable", essential: false },
  ],
};

let ecs: EcsTestServer;
let h: DeployerHarness;

beforeEach(async () => {
  ecs = await startEcsServer();
  h = new DeployerHarness();
});
afterEach(async () => {
  await h.close();
  await ecs.close();
});

async function setup(script: RolloutScript, opts: { ecsTimeoutS?: number; rolloutTimeout?: number } = {}) {
  ecs.state.register(structuredClone(baseTaskDefinition));
  ecs.state.addService("prod", "shop-web", td(1), script);
  h.startWorker({ ecs: h.ecsClients(ecs.url), ...(opts.ecsTimeoutS ? { ecsTimeoutS: opts.ecsTimeoutS } : {}) });
  await h.createApp("shop", {
    kind: "ecs",
    cluster: "prod",
    service: "shop-web",
    containers: { web: "app" },
    ...(opts.rolloutTimeout ? { rolloutTimeout: opts.rolloutTimeout } : {}),
  });
  const previous = await h.createRelease("shop", [{ service: "web", tag: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:web.6" }]);
  await h.markLive(previous);
  const release = await h.createRelease(
    "shop",
    [{ service: "web", tag: "127.0.0.1:5000/shop:web.7", digest: `sha256:${"b".repeat(64)}` }],
    {
      GREETING: "hello",
      FEATURE_X: "on",
    },
  );
  return { previous, release };
}

describe("ECS target", () => {
  it("registers a revision with only the image and environment replaced, updates the service with the circuit breaker, and goes live on COMPLETED", async () => {
    const { previous, release } = await setup({ kind: "complete", afterMs: 200 });
    const { outcome, release: after } = await h.deploy(release.id);
    expect(outcome).toBe("completed");
    expect(after.status).toBe("live");
    expect(after.liveAt).toBeDefined();
    expect((await h.records.releases.require(previous.id)).status).toBe("retired");

    const [registered, ...more] = ecs.state.ops("RegisterTaskDefinition");
    expect(more).toEqual([]);
    expect(registered).toEqual({
      ...baseTaskDefinition,
      containerDefinitions: [
        {
          ...baseTaskDefinition.containerDefinitions[0],
          image: "127.0.0.1:5000/shop:web.7",
          environment: [
            { name: "LOG_LEVEL", value: "info" },
            { name: "GREETING", value: "hello" },
            { name: "FEATURE_X", value: "on" },
          ],
        },
        baseTaskDefinition.containerDefinitions[1],
      ],
    });
    expect(ecs.state.ops("UpdateService")).toEqual([
      {
        cluster: "prod",
        service: "shop-web",
        taskDefinition: td(2),
        deploymentConfiguration: {
          maximumPercent: 200,
          minimumHealthyPercent: 100,
          deploymentCircuitBreaker: { enable: true, rollback: true },
        },
      },
    ]);
    expect(ecs.state.services.get("prod/shop-web")?.taskDefinition).toBe(td(2));
    const log = await h.logLines(release.id);
    expect(log).toContain(`registered ${td(2)}`);
    expect(log.at(-1)).toBe(`live; replaced release ${previous.id}`);
    expect(await h.notifyJobIds()).toEqual(
      expect.arrayContaining([
        `gitlab-status.release.deploying.${release.id}`,
        `slack.release.live.${release.id}`,
        `gitlab-status.release.live.${release.id}`,
      ]),
    );
  });

  it("records ECS's reason when the circuit breaker fails the rollout and rolls it back; the previous release stays live", async () => {
    const { previous, release } = await setup({
      kind: "fail",
      afterMs: 100,
      reason: "ECS deployment circuit breaker: tasks failed to start.",
      rollbackAfterMs: 100,
    });
    const { outcome, error, release: after } = await h.deploy(release.id);
    expect(outcome).toBe("failed");
    expect(after.status).toBe("failed");
    expect(after.reason).toBe("ECS rollout failed: ECS deployment circuit breaker: tasks failed to start.");
    expect(error).toBe(after.reason);
    expect((await h.records.releases.require(previous.id)).status).toBe("live");
    expect(ecs.state.services.get("prod/shop-web")?.taskDefinition).toBe(td(1));
    expect(await h.logLines(release.id)).toContain(`circuit breaker rolled the service back to ${td(1)}`);
    expect(await h.notifyJobIds()).toContain(`webhook.release.failed.${release.id}`);
  });

  it("gives up on a rollout that never settles, sets the service back, and fails the release", async () => {
    const { previous, release } = await setup({ kind: "hang" }, { ecsTimeoutS: 1 });
    const { outcome, release: after } = await h.deploy(release.id);
    expect(outcome).toBe("failed");
    expect(after.status).toBe("failed");
    expect(after.reason).toMatch(
      /^ECS rollout did not settle within 1 s \(rolloutState IN_PROGRESS: ECS deployment ecs-svc\/\d+ in progress\.\); the service was set back to /,
    );
    expect(ecs.state.ops("UpdateService").at(-1)).toEqual({ cluster: "prod", service: "shop-web", taskDefinition: td(1) });
    expect(ecs.state.services.get("prod/shop-web")?.taskDefinition).toBe(td(1));
    expect((await h.records.releases.require(previous.id)).status).toBe("live");
  });

  it("fails permanently (one attempt) when the service does not exist, without registering anything", async () => {
    const { release } = await setup({ kind: "complete", afterMs: 0 });
    ecs.state.services.delete("prod/shop-web");
    const { outcome, job, release: after } = await h.deploy(release.id, { attempts: 5 });
    expect(outcome).toBe("failed");
    expect(job.attemptsMade).toBe(1);
    expect(after.status).toBe("failed");
    expect(after.reason).toBe("ECS service shop-web in cluster prod: MISSING");
    expect(ecs.state.ops("RegisterTaskDefinition")).toEqual([]);
  });

  it("retries through throttling and converges to one registration and one update", async () => {
    const { release } = await setup({ kind: "complete", afterMs: 100 });
    // The SDK retries once itself (maxAttempts 2); the third throttle fails the first job attempt.
    ecs.state.failNext("UpdateService", "ThrottlingException", "Rate exceeded", 3);
    const { outcome, job, release: after } = await h.deploy(release.id, { attempts: 4 });
    expect(outcome).toBe("completed");
    expect(job.attemptsMade).toBe(2);
    expect(after.status).toBe("live");
    expect(ecs.state.ops("RegisterTaskDefinition")).toHaveLength(1);
    expect(ecs.state.services.get("prod/shop-web")?.taskDefinition).toBe(td(2));
    expect(await h.logLines(release.id)).toContain(`resuming: ${td(2)} was registered by an earlier attempt`);
  });

  it("fails permanently on an AWS ClientException from RegisterTaskDefinition, with AWS's message", async () => {
    const { previous, release } = await setup({ kind: "complete", afterMs: 0 });
    ecs.state.failNext("RegisterTaskDefinition", "ClientException", "Invalid 'memory' setting for container 'app'");
    const { outcome, job, release: after } = await h.deploy(release.id, { attempts: 5 });
    expect(outcome).toBe("failed");
    expect(job.attemptsMade).toBe(1);
    expect(after.reason).toBe("ECS ClientException: Invalid 'memory' setting for container 'app'");
    expect(ecs.state.ops("UpdateService")).toEqual([]);
    expect((await h.records.releases.require(previous.id)).status).toBe("live");
  });

  it("does not hold up other apps while one app's rollout runs and its next deploy waits for the lock", async () => {
    const { release: slow } = await setup({ kind: "hang" }, { ecsTimeoutS: 3 });
    const queued = await h.createRelease("shop", [{ service: "web", tag: "127.0.0.1:5000/shop:web.8" }]);
    ecs.state.addService("prod", "blog-web", td(1), { kind: "complete", afterMs: 100 });
    await h.createApp("blog", { kind: "ecs", cluster: "prod", service: "blog-web", containers: { web: "app" } });
    const blog = await h.createRelease("blog", [{ service: "web", tag: "127.0.0.1:5000/blog:web.1" }]);
    // A second worker process: the locked shop deploy must not occupy it either.
    h.startWorker({ ecs: h.ecsClients(ecs.url), ecsTimeoutS: 3 });
    const slowEnd = h.jobEnd(slow.id);
    const queuedEnd = h.jobEnd(queued.id);
    await h.queues.enqueue("deploy", { kind: "deploy", releaseId: slow.id });
    // The older release takes the lock first (the race itself is the local target's test).
    while ((await h.records.releases.require(slow.id)).status !== "deploying") await new Promise((r) => setTimeout(r, 20));
    await h.queues.enqueue("deploy", { kind: "deploy", releaseId: queued.id });
    const blogDone = await h.deploy(blog.id);
    expect(blogDone.release.status).toBe("live");
    // The blog went live while the shop's first rollout was still in progress.
    expect((await h.records.releases.require(slow.id)).status).toBe("deploying");
    // The shop's next rollout will complete; it may start only once the hung one gave up.
    ecs.state.services.get("prod/shop-web")!.script = { kind: "complete", afterMs: 100 };
    const [s, q] = await Promise.all([slowEnd, queuedEnd]);
    expect([s.outcome, q.outcome]).toEqual(["failed", "completed"]);
    const [slowAfter, queuedAfter] = await Promise.all([h.records.releases.require(slow.id), h.records.releases.require(queued.id)]);
    expect(slowAfter.reason).toMatch(/^ECS rollout did not settle within 3 s/);
    expect(queuedAfter.status).toBe("live");
    const slowLog = await h.releaseLog.read(slow.id);
    const queuedLog = await h.releaseLog.read(queued.id);
    const queuedStart = queuedLog.find((e) => e.line.startsWith("deploy started"));
    expect(queuedStart && queuedStart.id > slowLog.at(-1)!.id).toBe(true);
  });

  it("wakes a deploy waiting for its app's lock when the lock is released, not at its retry", async () => {
    ecs.state.register(structuredClone(baseTaskDefinition));
    ecs.state.addService("prod", "shop-web", td(1), { kind: "complete", afterMs: 100 });
    // A retry a minute away: only the wake-up can make the deploy run within the test's time.
    h.startWorker({ ecs: h.ecsClients(ecs.url) }, 1, 60_000);
    await h.createApp("shop", { kind: "ecs", cluster: "prod", service: "shop-web", containers: { web: "app" } });
    const release = await h.createRelease("shop", [{ service: "web", tag: "127.0.0.1:5000/shop:web.9" }]);
    const held = await deployPorts(h.deps()).tryLock("shop", "another-release");
    if (!held) throw new Error("the lock should be free");
    const end = h.jobEnd(release.id, 20_000);
    await h.queues.enqueue("deploy", { kind: "deploy", releaseId: release.id });
    const job = await h.queues.queue("deploy").getJob(release.id);
    while ((await job?.getState()) !== "delayed") await new Promise((r) => setTimeout(r, 10));
    expect(await h.redis.smembers(lockKeys(h.prefix, "shop").waiters)).toEqual([release.id]);
    const releasedAt = Date.now();
    await held.release();
    expect((await end).outcome).toBe("completed");
    const waited = Date.now() - releasedAt;
    expect(waited).toBeLessThan(10_000);
    expect((await h.records.releases.require(release.id)).status).toBe("live");
    console.log(`lock wake-up: the waiting deploy went live ${waited} ms after the lock was released (retry fallback 60000 ms)`);
  });

  it("wakes a deploy whose lock was released just before it went to sleep", async () => {
    const ports = deployPorts(h.deps());
    const held = await ports.tryLock("shop", "holder");
    if (!held) throw new Error("the lock should be free");
    expect(await ports.tryLock("shop", "rel_late")).toBeUndefined();
    // The release hands back the waiter; nothing to promote yet (no such job).
    await held.release();
    expect(await h.redis.exists(lockKeys(h.prefix, "shop").waiters)).toBe(0);
    // Free now: going to sleep wakes it at once instead of registering it.
    await ports.sleepUntilUnlocked("shop", "rel_late");
    expect(await h.redis.exists(lockKeys(h.prefix, "shop").waiters)).toBe(0);
    const again = await ports.tryLock("shop", "holder2");
    await ports.sleepUntilUnlocked("shop", "rel_late");
    expect(await h.redis.smembers(lockKeys(h.prefix, "shop").waiters)).toEqual(["rel_late"]);
    await again?.release();
  });

  it("sets the service's desiredCount to the app's scale by reconcile, without a release, and leaves it when it matches", async () => {
    await setup({ kind: "complete", afterMs: 50 });
    await h.records.apps.update("shop", { scale: { web: 5 } });
    const deps = h.deps({ ecs: h.ecsClients(ecs.url), edges: caddyEdgeProvider({ searchPath: "/nonexistent" }) });
    const loop = startReconcileLoop(reconcileDeps(deps, deployPorts(deps), h.log), 3600);
    try {
      await loop.round();
      expect(await loop.round()).toEqual([]);
      expect(ecs.state.services.get("prod/shop-web")?.desiredCount).toBe(5);
      await h.records.apps.update("shop", { scale: { web: 1 } });
      expect(await loop.round()).toEqual(["shop: ECS service shop-web desiredCount 5 → 1"]);
      expect(ecs.state.services.get("prod/shop-web")?.desiredCount).toBe(1);
      expect((await h.records.releases.listByApp("shop", 10)).length).toBe(2);
    } finally {
      await loop.stop();
    }
  });
});

describe("ECS target: regions and credentials (the test servers verify SigV4 as AWS does)", () => {
  const CENTRAL = "eu-central-1";
  const tdIn = (region: string, rev: number) => `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/shop:${rev}`;

  /** The same cluster and service on `server`, so only the region can tell two endpoints apart. */
  function seed(server: EcsTestServer) {
    server.state.register(structuredClone(baseTaskDefinition));
    server.state.addService("prod", "shop-web", tdIn(server.state.region, 1), { kind: "complete", afterMs: 100 });
  }

  async function release(app: string, target: Partial<Extract<Parameters<DeployerHarness["createApp"]>[1], { kind: "ecs" }>> = {}) {
    await h.createApp(app, { kind: "ecs", cluster: "prod", service: "shop-web", containers: { web: "app" }, ...target });
    const previous = await h.createRelease(app, [{ service: "web", tag: "127.0.0.1:5000/shop:web.6" }]);
    await h.markLive(previous);
    return { previous, next: await h.createRelease(app, [{ service: "web", tag: "127.0.0.1:5000/shop:web.7" }]) };
  }

  it("sends an app's target.region to that region's endpoint, signed for that region; the default region's endpoint sees nothing", async () => {
    const central = await startEcsServer(new EcsState({ region: CENTRAL }));
    try {
      seed(ecs);
      seed(central);
      h.startWorker({ ecs: h.ecsClients({ "eu-west-1": ecs.url, [CENTRAL]: central.url }) });
      const { next } = await release("shop", { region: CENTRAL });
      const { outcome, release: after } = await h.deploy(next.id);
      expect(outcome).toBe("completed");
      expect(after.status).toBe("live");
      expect(central.state.services.get("prod/shop-web")?.taskDefinition).toBe(tdIn(CENTRAL, 2));
      expect(central.state.ops("UpdateService")).toHaveLength(1);
      expect(central.state.rejected).toEqual([]);
      expect(ecs.state.requests).toEqual([]);
      expect(ecs.state.services.get("prod/shop-web")?.taskDefinition).toBe(tdIn("eu-west-1", 1));
    } finally {
      await central.close();
    }
  });

  it("a request signed for another region than the endpoint serves is refused as AWS does; the release fails at once and says what to check", async () => {
    seed(ecs);
    // One fixed endpoint for every region, as AWS_ENDPOINT_URL_ECS gives: the app's region does not match it.
    h.startWorker({ ecs: h.ecsClients(ecs.url) });
    const { previous, next } = await release("shop", { region: CENTRAL });
    const { outcome, job, release: after } = await h.deploy(next.id, { attempts: 3 });
    expect(outcome).toBe("failed");
    expect(job.attemptsMade).toBe(1);
    expect(after.reason).toBe(
      `ECS InvalidSignatureException: Credential should be scoped to a valid region, not '${CENTRAL}'.; check the deployer's AWS credentials ` +
        "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or its role), the region (AWS_REGION or the app's target.region) and the clock",
    );
    expect(ecs.state.rejected.map((r) => r.type)).toEqual(["InvalidSignatureException"]);
    expect(ecs.state.requests).toEqual([]);
    expect((await h.records.releases.require(previous.id)).status).toBe("live");
  });

  it("wrong AWS credentials: the release fails at once with AWS's error and what to check; nothing is registered", async () => {
    seed(ecs);
    const cases: [AwsTestCredentials, string][] = [
      [
        { accessKeyId: "AKIAUNKNOWNKEY000001", secretAccessKey: TEST_AWS_CREDENTIALS.secretAccessKey },
        "UnrecognizedClientException: The security token included in the request is invalid.",
      ],
      [
        { accessKeyId: TEST_AWS_CREDENTIALS.accessKeyId, secretAccessKey: "not-the-secret" },
        "InvalidSignatureException: The request signature we calculated does not match the signature you provided. " +
          "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
      ],
    ];
    for (const [i, [credentials, error]] of cases.entries()) {
      h.startWorker({ ecs: h.ecsClients(ecs.url, credentials) });
      const { previous, next } = await release(`shop${i}`);
      const { outcome, job, release: after } = await h.deploy(next.id, { attempts: 3 });
      await Promise.all(h.workers.map((w) => w.close()));
      expect(outcome).toBe("failed");
      expect(job.attemptsMade).toBe(1);
      expect(after.reason).toBe(
        `ECS ${error}; check the deployer's AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or its role), ` +
          "the region (AWS_REGION or the app's target.region) and the clock",
      );
      expect(after.reason).not.toContain(credentials.secretAccessKey);
      expect((await h.records.releases.require(previous.id)).status).toBe("live");
    }
    expect(ecs.state.rejected.map((r) => r.type)).toEqual(["UnrecognizedClientException", "InvalidSignatureException"]);
    expect(ecs.state.requests).toEqual([]);
  });
});
