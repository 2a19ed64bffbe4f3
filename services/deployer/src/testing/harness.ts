import { randomBytes } from "node:crypto";
import {
  type App,
  createLogger,
  createWorker,
  deployUnit,
  JobQueues,
  LocalSecretBox,
  type Logger,
  outboundFetchFor,
  PRODUCTION,
  parseOutboundAllow,
  REGISTRY_DEPLOYER_USER,
  Records,
  type Redis,
  type Release,
  secretContexts,
} from "@hoist/shared";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { TEST_AWS_CREDENTIALS } from "../../../../test/support/aws/json-server.js";
import type { AwsTestCredentials } from "../../../../test/support/aws/sigv4.js";
import { testRegistryAuth } from "../../../../test/support/registry/auth.js";
import { caddyEdgeProvider, type EdgeProvider } from "../adapters/caddy/provider.js";
import { createDocker, ecsClientFactory } from "../adapters/clients.js";
import { registryTagsFor } from "../adapters/registry-tags.js";
import { RedisStreamReleaseLog } from "../adapters/release-log.js";
import { handlers, recordDeadDeploy } from "../jobs/handlers.js";
import { type DeployerDeps, deployPorts } from "../jobs/ports.js";

let sharedEdges: EdgeProvider | undefined;

/**
 * The Caddy of this test process: HOIST_CADDY_ADMIN_URL's, else one started on first use (and stopped
 * when the process ends: its stdin is a pipe from here). Apps in tests have ports of their own, so one
 * Caddy serves them all, as it does in production.
 */
function testEdges(): EdgeProvider {
  sharedEdges ??= caddyEdgeProvider({ adminUrl: process.env.HOIST_CADDY_ADMIN_URL });
  return sharedEdges;
}

type Worker = ReturnType<typeof createWorker>;
type Job = Awaited<ReturnType<JobQueues["enqueue"]>>;

/** One test's deployer world: its own prefix, real Redis, the real worker and ports. */
export class DeployerHarness {
  readonly prefix = uniquePrefix("dep");
  readonly redis: Redis = testRedis("worker");
  readonly records = new Records(this.redis, this.prefix);
  readonly queues = new JobQueues(this.redis, this.prefix);
  /** The master key of `secrets`, for deployer processes started by a test (HOIST_MASTER_KEY_FILE). */
  readonly masterKey = randomBytes(32);
  readonly secrets = new LocalSecretBox(this.masterKey);
  readonly releaseLog = new RedisStreamReleaseLog(this.redis, this.prefix);
  readonly log: Logger = createLogger({ service: "deployer-test", level: process.env.HOIST_TEST_LOG ?? "silent" });
  readonly workers: Worker[] = [];
  private readonly connections: Redis[] = [];

  /**
   * Real @aws-sdk/client-ecs clients with fast retries, signing with `credentials`. A URL is one
   * fixed endpoint for every region (as AWS_ENDPOINT_URL_ECS is); a map sends each region's
   * client to that region's ECS test server, as the SDK sends it to ecs.<region>.amazonaws.com.
   */
  ecsClients(endpoints: string | Record<string, string>, credentials: AwsTestCredentials = TEST_AWS_CREDENTIALS): DeployerDeps["ecs"] {
    const where =
      typeof endpoints === "string"
        ? { endpoint: endpoints }
        : {
            endpointProvider: ({ Region }: { Region?: string }) => {
              const url = Region ? endpoints[Region] : undefined;
              if (!url) throw new Error(`no ECS test server serves region ${Region ?? "(none)"}`);
              return { url: new URL(url) };
            },
          };
    return ecsClientFactory({ region: "eu-west-1", credentials, maxAttempts: 2, ...where });
  }

  deps(overrides: Partial<DeployerDeps> = {}): DeployerDeps {
    return {
      redis: this.redis,
      prefix: this.prefix,
      records: this.records,
      queues: this.queues,
      secrets: this.secrets,
      docker: createDocker(),
      ecs: ecsClientFactory({ region: "eu-west-1", credentials: TEST_AWS_CREDENTIALS }),
      releaseLog: this.releaseLog,
      lockTtlMs: 5_000,
      ecsPollMs: 20,
      ecsTimeoutS: 900,
      stopTimeoutS: 1,
      edges: testEdges(),
      drainS: 10,
      // The test registry takes tokens only: the local target pulls as the deployer user, as in production.
      pullAuth: testRegistryAuth(REGISTRY_DEPLOYER_USER),
      registryTags: registryTagsFor({
        registry: testRegistryAuth(REGISTRY_DEPLOYER_USER).serveraddress,
        insecure: true,
        auth: testRegistryAuth(REGISTRY_DEPLOYER_USER),
      }),
      // Tests reach their GitLab test servers on loopback only.
      fetch: outboundFetchFor(parseOutboundAllow("127.0.0.1")),
      ...overrides,
    };
  }

  /** Starts a deploy worker (each with its own connection, as a separate process would have). */
  startWorker(overrides: Partial<DeployerDeps> = {}, concurrency = 1, lockRetryMs = 100): Worker {
    const connection = testRedis("worker");
    this.connections.push(connection);
    const ports = deployPorts(this.deps(overrides));
    const worker = createWorker({
      queue: "deploy",
      connection,
      prefix: this.prefix,
      concurrency,
      log: this.log,
      handlers: handlers({ log: this.log, ports, lockRetryMs }),
      workerOptions: { settings: { backoffStrategy: () => 50 } },
    });
    worker.on("failed", (job, err) => void recordDeadDeploy(ports, job, err).catch(() => {}));
    this.workers.push(worker);
    return worker;
  }

  async createApp(name: string, target: App["target"]): Promise<App> {
    return this.records.apps.create({
      name,
      branch: "main",
      repo: { sshUrl: `ssh://git@127.0.0.1/${name}.git` },
      target,
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
      // Linked and with an outgoing webhook, so every notification destination applies.
      gitlab: { connectionId: "glc_test", projectId: 1 },
      outgoingWebhook: {
        url: "https://hooks.example.test/hoist",
        secret: { v: 1, provider: "local", keyId: "local:test", encryptedKey: "", iv: "", tag: "", ciphertext: "" },
      },
    });
  }

  /** A succeeded build with `images` and a pending release of it carrying `env` (sealed). */
  async createRelease(
    app: string,
    images: Release["images"],
    env: Record<string, string> = {},
    extra: Partial<Release> = {},
  ): Promise<Release> {
    const build = await this.records.builds.create({ app, ref: "refs/heads/main", sha: "a".repeat(40), trigger: "push" });
    await this.records.builds.patch(build.id, { status: "succeeded", images });
    const sealed = await this.secrets.seal(JSON.stringify(env), secretContexts.environmentEnv(app, extra.environment ?? PRODUCTION));
    return this.records.releases.create({ app, buildId: build.id, images, env: sealed, ...extra });
  }

  /** Seeds a release as the app's live one, as an earlier deploy would have left it. */
  async markLive(release: Release): Promise<void> {
    await this.records.releases.patch(release.id, { status: "live", liveAt: new Date().toISOString() });
    await this.redis.set(this.records.keys.liveRelease(deployUnit(release.app, release.environment)), release.id);
  }

  /**
   * Enqueues a deploy of `releaseId` and resolves when its job completes or fails for good (not
   * on a retried attempt), with the release as it then is.
   */
  async deploy(
    releaseId: string,
    opts: { attempts?: number } = {},
  ): Promise<{ job: Job; outcome: "completed" | "failed"; error?: string; release: Release }> {
    const done = this.jobEnd(releaseId);
    await this.queues.enqueue(
      "deploy",
      { kind: "deploy", releaseId },
      { attempts: opts.attempts ?? 3, backoff: { type: "fixed", delay: 50 } },
    );
    const end = await done;
    return { ...end, release: await this.records.releases.require(releaseId) };
  }

  jobEnd(jobId: string, timeoutMs = 60_000): Promise<{ job: Job; outcome: "completed" | "failed"; error?: string }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`deploy job ${jobId} did not end within ${timeoutMs} ms`));
      }, timeoutMs);
      const onCompleted = (job: Job) => {
        if (job.id !== jobId) return;
        off();
        resolve({ job, outcome: "completed" });
      };
      const onFailed = (job: Job | undefined, err: Error) => {
        if (!job || job.id !== jobId) return;
        const final = err.name === "UnrecoverableError" || job.attemptsMade >= (job.opts.attempts ?? 1);
        if (!final) return;
        off();
        resolve({ job, outcome: "failed", error: err.message });
      };
      const off = () => {
        clearTimeout(timer);
        for (const w of this.workers) {
          w.off("completed", onCompleted);
          w.off("failed", onFailed);
        }
      };
      for (const w of this.workers) {
        w.on("completed", onCompleted);
        w.on("failed", onFailed);
      }
    });
  }

  async logLines(releaseId: string): Promise<string[]> {
    return (await this.releaseLog.read(releaseId)).map((e) => e.line);
  }

  async notifyJobIds(): Promise<string[]> {
    const jobs = await this.queues.queue("notify").getJobs(["waiting", "delayed", "prioritized"]);
    return jobs.map((j) => j.id ?? "").sort();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    await this.queues.close();
    await deletePrefix(this.redis, this.prefix);
    await Promise.all([...this.connections, this.redis].map((c) => c.quit().catch(() => c.disconnect())));
  }
}
