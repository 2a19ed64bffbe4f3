import {
  baseReposEnvSchema,
  buildLogKey,
  createLogger,
  createRedis,
  createWorker,
  JobQueues,
  type Logger,
  onBuildCanceled,
  parseEnv,
  publishBuildCanceled,
  Records,
  type Redis,
  readLog,
  type SecretBox,
} from "@hoist/shared";
import { nextEvent, testRedisUrl } from "@hoist/shared/testing";
import type { Job, Worker } from "bullmq";
import { asServiceUser } from "../../../../test/support/redis-acl.js";
import { testRegistrySecret } from "../../../../test/support/registry/auth.js";

import { Cancellations } from "../adapters/cancellations.js";
import { dockerClient } from "../adapters/docker.js";
import { type PushTarget, resolvePushTarget } from "../adapters/registry.js";
import type { BuildJobDeps } from "../jobs/build-job.js";
import { handlers } from "../jobs/handlers.js";

export const testLog: Logger = createLogger({ service: "builder-test", level: "silent" });

/** What a test builder uses of a test's world (test/support/builder/world.ts makes one). */
interface TestBuilderWorld {
  prefix: string;
  redis: Redis;
  producer: Redis;
  records: Records;
  queues: JobQueues;
  secrets: SecretBox;
  workDir: string;
  registry: string;
}

/** A real BullMQ build worker in this process, wired like main.ts, for one test world. */
export interface TestBuilder {
  worker: Worker;
  deps: BuildJobDeps;
  /** Enqueues the build and resolves when its job completes or fails for good. */
  run(
    buildId: string,
    jobOpts?: { attempts: number; backoff?: { type: "fixed"; delay: number } },
  ): Promise<{ result?: unknown; error?: Error }>;
  logLines(buildId: string): Promise<string[]>;
  cancel(buildId: string): Promise<void>;
  close(): Promise<void>;
}

export async function startTestBuilder(
  world: TestBuilderWorld,
  opts: { pushTarget?: (app: string) => Promise<PushTarget>; registry?: string } = {},
): Promise<TestBuilder> {
  const cancellations = new Cancellations();
  // As the builder's own Redis user, as in production (the suite's Redis has the services' ACL
  // users): what the builder may not write (an app record) fails here as it would there.
  const asBuilder = (role: "worker" | "producer" = "worker") => createRedis(asServiceUser("builder", testRedisUrl()), role);
  const redis = asBuilder();
  const records = new Records(redis, world.prefix);
  const subscriber: Redis = asBuilder();
  const producer = asBuilder("producer");
  const queues = new JobQueues(producer, world.prefix);
  await onBuildCanceled(subscriber, world.prefix, (id) => cancellations.cancel(id));
  const deps: BuildJobDeps = {
    redis,
    prefix: world.prefix,
    records,
    queues,
    cancellations,
    logMaxLines: 10_000,
    log: testLog,
    pipeline: {
      docker: dockerClient(process.env.DOCKER_HOST),
      secrets: world.secrets,
      workDir: world.workDir,
      pushTarget:
        opts.pushTarget ??
        ((app) =>
          resolvePushTarget(
            { HOIST_REGISTRY: opts.registry ?? world.registry, HOIST_REGISTRY_INSECURE: true, HOIST_REGISTRY_SECRET: testRegistrySecret() },
            app,
          )),
      // The suite's token service grants these (scripts/services-up.sh): the builder allows the same.
      baseRepos: parseEnv(baseReposEnvSchema).HOIST_REGISTRY_BASE_REPOS,
      appNames: () => records.apps.names(),
    },
  };
  const connection = asBuilder();
  const worker = createWorker({ queue: "build", connection, prefix: world.prefix, concurrency: 2, log: testLog, handlers: handlers(deps) });
  await worker.waitUntilReady();
  return {
    worker,
    deps,
    async run(buildId, jobOpts = { attempts: 1 }) {
      const done = Promise.race([
        nextEvent<[Job, unknown]>(worker, "completed", (job) => job.id === buildId, 120_000).then(([, result]) => ({ result })),
        nextEvent<[Job | undefined, Error]>(worker, "failed", (job) => job?.id === buildId && job.finishedOn !== undefined, 120_000).then(
          ([, error]) => ({ error }),
        ),
      ]);
      await world.queues.enqueue("build", { kind: "build", buildId }, jobOpts);
      return done;
    },
    async logLines(buildId) {
      const entries = await readLog(world.redis, buildLogKey(world.prefix, buildId));
      return entries.map((e) => (e.kind === "line" ? `${e.step}: ${e.line}` : `[end ${e.status}]`));
    },
    async cancel(buildId) {
      const t = await world.records.builds.transition(buildId, ["queued", "running"], { status: "canceled", canceledBy: "user" });
      if (!t.ok) throw new Error(`cannot cancel build ${buildId}: ${JSON.stringify(t)}`);
      await publishBuildCanceled(world.producer, world.prefix, buildId);
    },
    async close() {
      await worker.close();
      connection.disconnect();
      subscriber.disconnect();
      await queues.close();
      redis.disconnect();
      producer.disconnect();
    },
  };
}
