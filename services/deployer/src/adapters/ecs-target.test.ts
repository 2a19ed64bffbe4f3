import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EcsTestServer, startEcsServer } from "../../../../test/support/ecs/server.js";
import { ACCOUNT, type RolloutScript } from "../../../../test/support/ecs/state.js";
import { lockKeys } from "../domain/lock.js";
import { deployPorts } from "../jobs/ports.js";
import { DeployerHarness } from "../testing/harness.js";

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
    const { previous, release } = await setup({ kind: "complete", after: 2 });
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
      after: 1,
      reason: "ECS deployment circuit breaker: tasks failed to start.",
      rollbackAfter: 1,
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
    const { release } = await setup({ kind: "complete", after: 0 });
    ecs.state.services.delete("prod/shop-web");
    const { outcome, job, release: after } = await h.deploy(release.id, { attempts: 5 });
    expect(outcome).toBe("failed");
    expect(job.attemptsMade).toBe(1);
    expect(after.status).toBe("failed");
    expect(after.reason).toBe("ECS service shop-web in cluster prod: MISSING");
    expect(ecs.state.ops("RegisterTaskDefinition")).toEqual([]);
  });

  it("retries through throttling and converges to one registration and one update", async () => {
    const { release } = await setup({ kind: "complete", after: 1 });
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
    const { previous, release } = await setup({ kind: "complete", after: 0 });
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
    ecs.state.addService("prod", "blog-web", td(1), { kind: "complete", after: 1 });
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
    ecs.state.services.get("prod/shop-web")!.script = { kind: "complete", after: 1 };
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
    ecs.state.addService("prod", "shop-web", td(1), { kind: "complete", after: 1 });
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
});
