import { join, resolve } from "node:path";
import { ECRClient } from "@aws-sdk/client-ecr";
import {
  bootService,
  connectRedisOrExit,
  createRedis,
  createSecretBox,
  createWorker,
  dockerProbe,
  JobQueues,
  onBuildCanceled,
  Records,
  registrySecretOrExit,
  type SecretBox,
  serveWorkerHealth,
  startDependencyChecks,
} from "@hoist/shared";
import { Cancellations } from "./adapters/cancellations.js";
import { dockerClient } from "./adapters/docker.js";
import { isEcrRegistry, registryProbe, resolvePushTarget } from "./adapters/registry.js";
import { removeStaleWorkspaces } from "./adapters/workspace.js";
import { envSchema } from "./config.js";
import { failOrphanedBuild } from "./jobs/build-job.js";
import { handlers } from "./jobs/handlers.js";
import { startOrphanSweeps } from "./jobs/orphans.js";
import { builderOverrides } from "./overrides.js";

const ctx = bootService("builder", envSchema);
const { config, log, shutdown } = ctx;
const prefix = config.HOIST_QUEUE_PREFIX;
const workDir = resolve(config.HOIST_WORK_DIR ?? join(config.HOIST_DATA_DIR, "builds"));

// A crashed builder leaves checkouts and decrypted deploy keys behind: remove them first.
const stale = await removeStaleWorkspaces(workDir);
if (stale.length) log.info({ workDir, removed: stale.length }, "removed temp dirs left by stopped builders");

const connection = await connectRedisOrExit(ctx, "worker", "hoist-builder");
const producer = await connectRedisOrExit(ctx, "producer", "hoist-builder-producer");
const records = new Records(connection, prefix, { retentionDays: config.HOIST_RETENTION_DAYS });
const queues = new JobQueues(producer, prefix);
shutdown.register("queues", () => queues.close());

// Cancel announcements arrive on a connection of their own (a subscribed client does nothing else).
const cancellations = new Cancellations();
const subscriber = createRedis(config.REDIS_URL, "worker", "hoist-builder-cancel");
shutdown.register("cancel subscriber", () =>
  subscriber.quit().then(
    () => undefined,
    () => subscriber.disconnect(),
  ),
);
await onBuildCanceled(subscriber, prefix, (buildId) => {
  if (cancellations.cancel(buildId)) log.info({ buildId }, "cancel received; aborting the build");
});

// Opened on first use: at `pnpm start` the API creates the local master key, and the builder
// must not race it for the file.
let box: SecretBox | undefined;
const secrets: SecretBox = {
  seal: (plaintext, context) => {
    box ??= createSecretBox(config);
    return box.seal(plaintext, context);
  },
  open: (sealed, context) => {
    box ??= createSecretBox(config);
    return box.open(sealed, context);
  },
};
const docker = dockerClient(config.DOCKER_HOST);
if (!process.env.HOIST_REGISTRY) {
  // The default may be anyone's registry on this host: say where images go.
  log.warn(
    { registry: config.HOIST_REGISTRY },
    "HOIST_REGISTRY is unset: images are pushed to the default 127.0.0.1:5000; set HOIST_REGISTRY to your registry",
  );
}
// Read once (from its file when given so): each build derives its app's registry password from it.
const registrySecretValue = registrySecretOrExit(config);
// One ECR client for the process (region from the registry URI; endpoint and credentials from
// the AWS SDK's standard env); the authorization token itself is fetched per build.
const ecrMatch = /\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com/.exec(config.HOIST_REGISTRY);
const ecr = isEcrRegistry(config.HOIST_REGISTRY) && ecrMatch ? new ECRClient({ region: ecrMatch[1] as string }) : undefined;
if (ecr) shutdown.register("ecr client", async () => ecr.destroy());
const deps = {
  redis: connection,
  prefix,
  records,
  queues,
  cancellations,
  logMaxLines: config.HOIST_BUILD_LOG_MAX_LINES,
  logLineMax: config.HOIST_LOG_LINE_MAX,
  logMaxBytes: config.HOIST_LOG_MAX_BYTES,
  log,
  pipeline: {
    docker,
    secrets,
    workDir,
    pushTarget: (app: string) => resolvePushTarget({ ...config, HOIST_REGISTRY_SECRET: registrySecretValue }, app, ecr),
    localRepos: config.HOIST_LOCAL_REPOS,
  },
  ...builderOverrides(),
};
// Builds whose API process died between storing the record and the job: queued here instead.
const stopSweeps = startOrphanSweeps({ redis: connection, prefix, records, queues, log });
shutdown.register("orphaned-build sweeps", async () => stopSweeps());
const worker = createWorker({
  queue: "build",
  connection,
  prefix,
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
// Registered after Redis, so it closes first: active jobs finish before the connection goes.
shutdown.register("build worker", () => worker.close());
await worker.waitUntilReady();
// The Docker API and the registry may come and go: builds that need them fail with the reason
// while they are away, and /healthz and the dashboard say so; the process stays.
const registry = registryProbe(config);
const dependencies = await startDependencyChecks({
  service: "builder",
  probes: [dockerProbe(docker), ...(registry ? [registry] : [])],
  config,
  log,
  redis: producer,
  shutdown,
});
await serveWorkerHealth({ config, worker, connection, queues, shutdown, dependencies });
log.info({ queue: "build", concurrency: config.HOIST_CONCURRENCY, prefix, workDir, registry: config.HOIST_REGISTRY }, "ready");
