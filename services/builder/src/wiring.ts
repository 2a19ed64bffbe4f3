import { join, resolve } from "node:path";
import { ECRClient } from "@aws-sdk/client-ecr";
import {
  createRedis,
  createSecretBox,
  createWorker,
  ecrRegistryOf,
  type Logger,
  onBuildCanceled,
  redisTargetFrom,
  registrySecretOrExit,
  type SecretBox,
  type ShutdownRegistry,
  WorkerSupervisor,
} from "@hoist/shared";
import { Cancellations } from "./adapters/cancellations.js";
import { type PushTarget, resolvePushTarget } from "./adapters/registry.js";
import { removeStaleWorkspaces } from "./adapters/workspace.js";
import type { Env } from "./config.js";
import { type BuildJobDeps, failOrphanedBuild } from "./jobs/build-job.js";
import { handlers } from "./jobs/handlers.js";

/** The builder's parts main.ts composes: each takes what it needs and registers its own shutdown. */
interface Boot {
  config: Env;
  log: Logger;
  shutdown: ShutdownRegistry;
}

/** The work dir, emptied of what a crashed builder left there (checkouts, decrypted deploy keys). */
export async function cleanWorkDir({ config, log }: Boot): Promise<string> {
  const workDir = resolve(config.HOIST_WORK_DIR ?? join(config.HOIST_DATA_DIR, "builds"));
  const stale = await removeStaleWorkspaces(workDir);
  if (stale.length) log.info({ workDir, removed: stale.length }, "removed temp dirs left by stopped builders");
  return workDir;
}

/** Cancel announcements, on a connection of their own (a subscribed client does nothing else). */
export async function listenForCancels({ config, log, shutdown }: Boot): Promise<Cancellations> {
  const cancellations = new Cancellations();
  const subscriber = createRedis(redisTargetFrom(config), "worker", "hoist-builder-cancel");
  shutdown.register("cancel subscriber", () =>
    subscriber.quit().then(
      () => undefined,
      () => subscriber.disconnect(),
    ),
  );
  await onBuildCanceled(subscriber, config.HOIST_QUEUE_PREFIX, (buildId) => {
    if (cancellations.cancel(buildId)) log.info({ buildId }, "cancel received; aborting the build");
  });
  return cancellations;
}

/**
 * The secret box, opened on first use: at `pnpm start` the API creates the local master key, and
 * the builder must not race it for the file.
 */
export function lazySecretBox(config: Env): SecretBox {
  let box: SecretBox | undefined;
  return {
    seal: (plaintext, context) => {
      box ??= createSecretBox(config);
      return box.seal(plaintext, context);
    },
    open: (sealed, context) => {
      box ??= createSecretBox(config);
      return box.open(sealed, context);
    },
    needsReseal: (sealed) => {
      box ??= createSecretBox(config);
      return box.needsReseal(sealed);
    },
  };
}

/** Where each app's images are pushed: HOIST_REGISTRY, with ECR's credentials when it is an ECR registry. */
export function pushTargets({ config, log, shutdown }: Boot): (app: string) => Promise<PushTarget> {
  if (!process.env.HOIST_REGISTRY) {
    // The default may be anyone's registry on this host: say where images go.
    log.warn(
      { registry: config.HOIST_REGISTRY },
      "HOIST_REGISTRY is unset: images are pushed to the default 127.0.0.1:5000; set HOIST_REGISTRY to your registry",
    );
  }
  // One ECR client for the process (region from the registry URI; endpoint and credentials from
  // the AWS SDK's standard env); the authorization token itself is fetched per build.
  const ecrOf = ecrRegistryOf(config.HOIST_REGISTRY);
  const ecr = ecrOf ? new ECRClient({ region: ecrOf.region }) : undefined;
  if (ecr) shutdown.register("ecr client", async () => ecr.destroy());
  // Read once (from its file when given so): each build derives its app's registry password from it.
  const registrySecret = registrySecretOrExit(config);
  return (app) => resolvePushTarget({ ...config, HOIST_REGISTRY_SECRET: registrySecret }, app, ecr);
}

/**
 * The build worker, ready; a job BullMQ fails for good on its own marks its build failed. A
 * worker found stuck (connection ready, builds waiting, no fetch for HOIST_WORKER_STUCK_S) is
 * created again.
 */
export async function startBuildWorker({ config, log, shutdown }: Boot, deps: BuildJobDeps): Promise<WorkerSupervisor> {
  const create = () => {
    const worker = createWorker({
      queue: "build",
      connection: deps.redis,
      prefix: deps.prefix,
      concurrency: config.HOIST_CONCURRENCY,
      log,
      handlers: handlers(deps),
      workerOptions: {
        lockDuration: config.HOIST_BUILD_LOCK_MS,
        stalledInterval: config.HOIST_BUILD_STALLED_INTERVAL_MS,
      },
    });
    worker.on("failed", (job, err) => {
      // A job BullMQ failed for good on its own (stalled too often) must not leave its build running.
      if (!job || job.finishedOn === undefined) return;
      const buildId = (job.data as { buildId?: unknown }).buildId;
      if (typeof buildId !== "string") return;
      failOrphanedBuild(deps, buildId, err.message).catch((e: Error) =>
        log.error({ buildId, err: e.message }, "could not mark the build failed"),
      );
    });
    return worker;
  };
  const supervisor = new WorkerSupervisor({
    queue: "build",
    create,
    connection: deps.redis,
    waiting: () => deps.queues.queue("build").getWaitingCount(),
    concurrency: config.HOIST_CONCURRENCY,
    stuckMs: config.HOIST_WORKER_STUCK_S * 1000,
    log,
  });
  // Registered after Redis, so it closes first: active jobs finish before the connection goes.
  shutdown.register("build worker", () => supervisor.close());
  await supervisor.current.waitUntilReady();
  return supervisor;
}
