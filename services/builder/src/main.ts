import {
  AuditLog,
  auditedSecretBox,
  bootService,
  connectRedisOrExit,
  dockerProbe,
  JobQueues,
  masterKeyWarning,
  Records,
  serveWorkerHealth,
  startDependencyChecks,
} from "@hoist/shared";
import { dockerClient } from "./adapters/docker.js";
import { imageTriggers } from "./adapters/image-triggers.js";
import { registryProbe } from "./adapters/registry.js";
import { buildCapsOf, envSchema } from "./config.js";
import { startOrphanSweeps } from "./jobs/orphans.js";
import { builderOverrides } from "./overrides.js";
import { cleanWorkDir, lazySecretBox, listenForCancels, pushTargets, startBuildWorker } from "./wiring.js";

const ctx = bootService("builder", envSchema);
const { config, log, shutdown } = ctx;
const keyWarning = masterKeyWarning(config);
if (keyWarning) log.warn(keyWarning);
const prefix = config.HOIST_QUEUE_PREFIX;
const workDir = await cleanWorkDir(ctx);
const connection = await connectRedisOrExit(ctx, "worker", "hoist-builder");
const producer = await connectRedisOrExit(ctx, "producer", "hoist-builder-producer");
const records = new Records(connection, prefix, { retentionDays: config.HOIST_RETENTION_DAYS });
const queues = new JobQueues(producer, prefix);
shutdown.register("queues", () => queues.close());
const cancellations = await listenForCancels(ctx);
const docker = dockerClient(config.DOCKER_HOST);
const pipeline = {
  docker,
  // Every secret a build opens (the deploy key, the app's env) is in the audit log.
  secrets: auditedSecretBox(lazySecretBox(config), new AuditLog(connection, prefix, config.HOIST_AUDIT_RETENTION_DAYS), "builder"),
  workDir,
  pushTarget: pushTargets(ctx),
  localRepos: config.HOIST_LOCAL_REPOS,
  buildCaps: buildCapsOf(config),
  baseRepos: config.HOIST_REGISTRY_BASE_REPOS,
  appNames: () => records.apps.names(),
  // One for the process: an image's ONBUILD triggers are read once per image id.
  imageTriggers: imageTriggers(docker),
};
const logLimits = {
  logMaxLines: config.HOIST_BUILD_LOG_MAX_LINES,
  logLineMax: config.HOIST_LOG_LINE_MAX,
  logMaxBytes: config.HOIST_LOG_MAX_BYTES,
};
const deps = { redis: connection, prefix, records, queues, cancellations, log, pipeline, ...logLimits, ...builderOverrides() };
// Builds whose API process died between storing the record and the job: queued here instead.
const stopSweeps = startOrphanSweeps({ redis: connection, prefix, records, queues, log });
shutdown.register("orphaned-build sweeps", async () => stopSweeps());
const worker = await startBuildWorker(ctx, deps);
// The Docker API and the registry may come and go: builds that need them fail with the reason
// while they are away, and /healthz and the dashboard say so; the process stays.
const registry = registryProbe(config);
const probes = [dockerProbe(docker), ...(registry ? [registry] : [])];
const dependencies = await startDependencyChecks({ service: "builder", probes, config, log, redis: producer, shutdown });
await serveWorkerHealth({ config, worker, connection, queues, shutdown, dependencies });
log.info({ queue: "build", concurrency: config.HOIST_CONCURRENCY, prefix, workDir, registry: config.HOIST_REGISTRY }, "ready");
