import {
  AuditLog,
  auditedSecretBox,
  bootService,
  connectRedisOrExit,
  createSecretBox,
  createWorker,
  dockerProbe,
  JobQueues,
  masterKeyWarning,
  outboundFetchFor,
  REGISTRY_DEPLOYER_USER,
  Records,
  registryHost,
  registryPassword,
  registrySecretOrExit,
  serveWorkerHealth,
  startDependencyChecks,
  WorkerSupervisor,
} from "@hoist/shared";
import { caddyEdgeProvider } from "./adapters/caddy/provider.js";
import { createDocker, ecsClientFactory } from "./adapters/clients.js";
import { startReconcileLoop } from "./adapters/local-reconcile.js";
import { LocalTarget } from "./adapters/local-target.js";
import { registryTagsFor } from "./adapters/registry-tags.js";
import { RedisStreamReleaseLog } from "./adapters/release-log.js";
import { envSchema } from "./config.js";
import { handlers, recordDeadDeploy } from "./jobs/handlers.js";
import { deployPorts } from "./jobs/ports.js";
import { previewHandlers, previewLimits, previewPorts } from "./jobs/previews.js";
import { reconcileDeps } from "./jobs/reconcile.js";
import { deployerOverrides } from "./overrides.js";

const ctx = bootService("deployer", envSchema);
const { config, log, shutdown } = ctx;
const keyWarning = masterKeyWarning(config);
if (keyWarning) log.warn(keyWarning);
const connection = await connectRedisOrExit(ctx, "worker", "hoist-deployer");
const producer = await connectRedisOrExit(ctx, "producer", "hoist-deployer-producer");
const prefix = config.HOIST_QUEUE_PREFIX;
const queues = new JobQueues(producer, prefix);
shutdown.register("queues", () => queues.close());
const docker = createDocker();
// The local target pulls from Hoist's registry as the deployer user (pull on every app's repository).
const registrySecret = registrySecretOrExit(config);
const pullAuth =
  config.HOIST_REGISTRY && registrySecret
    ? {
        username: REGISTRY_DEPLOYER_USER,
        password: registryPassword(registrySecret, REGISTRY_DEPLOYER_USER),
        serveraddress: registryHost(config.HOIST_REGISTRY),
      }
    : undefined;
// A harness may replace the rollout target and the gates' clock (overrides.ts); production sets neither.
const { now: clock, ...portOverrides } = deployerOverrides();
const edges = caddyEdgeProvider({
  adminUrl: config.HOIST_CADDY_ADMIN_URL,
  hostsListen: config.HOIST_CADDY_HOSTS_LISTEN,
  hostsHttp: config.HOIST_CADDY_HOSTS_HTTP,
  log,
});
shutdown.register("caddy", () => edges.close());
const deps = {
  redis: producer,
  prefix,
  records: new Records(producer, prefix, { retentionDays: config.HOIST_RETENTION_DAYS }),
  queues,
  // Every secret a deploy opens (the release's env) is in the audit log.
  secrets: auditedSecretBox(createSecretBox(config), new AuditLog(producer, prefix, config.HOIST_AUDIT_RETENTION_DAYS), "deployer"),
  docker,
  ecs: ecsClientFactory(),
  ecsTimeoutS: config.HOIST_ECS_ROLLOUT_TIMEOUT_S,
  releaseLog: new RedisStreamReleaseLog(producer, prefix),
  lockTtlMs: config.HOIST_DEPLOY_LOCK_TTL_MS,
  ecsPollMs: config.HOIST_ECS_POLL_MS,
  stopTimeoutS: config.HOIST_LOCAL_STOP_TIMEOUT_S,
  edges,
  drainS: config.HOIST_LOCAL_DRAIN_S,
  ...(pullAuth ? { pullAuth } : {}),
  // A preview's teardown removes its tags as the deployer user (delete on apps' repositories).
  ...(config.HOIST_REGISTRY
    ? {
        registryTags: registryTagsFor({
          registry: config.HOIST_REGISTRY,
          insecure: config.HOIST_REGISTRY_INSECURE,
          ...(pullAuth ? { auth: pullAuth } : {}),
        }),
      }
    : {}),
  fetch: outboundFetchFor(config.HOIST_OUTBOUND_ALLOW),
  ...(clock ? { now: clock } : {}),
};
const ports = { ...deployPorts(deps), ...portOverrides };
// A worker found stuck (connection ready, jobs waiting, no fetch for HOIST_WORKER_STUCK_S) is created again.
const worker = new WorkerSupervisor({
  queue: "deploy",
  create: () => {
    const w = createWorker({
      queue: "deploy",
      connection,
      prefix,
      concurrency: config.HOIST_CONCURRENCY,
      log,
      handlers: handlers({ log, ports, lockRetryMs: config.HOIST_DEPLOY_LOCK_RETRY_MS }),
      workerOptions: { lockDuration: config.HOIST_DEPLOY_STALLED_MS, stalledInterval: config.HOIST_DEPLOY_STALLED_MS },
    });
    w.on("failed", (job, err) => {
      recordDeadDeploy(ports, job, err).catch((e: Error) =>
        log.error({ jobId: job?.id, err: e.message }, "could not record a dead deploy"),
      );
    });
    return w;
  },
  connection,
  waiting: () => queues.queue("deploy").getWaitingCount(),
  concurrency: config.HOIST_CONCURRENCY,
  stuckMs: config.HOIST_WORKER_STUCK_S * 1000,
  log,
});
// Registered after Redis, so it closes first: active jobs finish before the connection goes.
shutdown.register("deploy worker", () => worker.close());
await worker.current.waitUntilReady();
// Local-target deploys need the Docker API: while it is away they fail with the reason and
// /healthz and the dashboard say so; the process stays.
const dependencies = await startDependencyChecks({
  service: "deployer",
  probes: [dockerProbe(docker)],
  config,
  log,
  redis: producer,
  shutdown,
});
await serveWorkerHealth({ config, worker, connection, queues, shutdown, dependencies });
// Merge request previews (domain/previews.ts): open/close jobs from the API, limits from the reconcile loop.
const previews = previewPorts(
  {
    ...deps,
    domain: config.HOIST_APPS_DOMAIN,
    hostsPort: Number(config.HOIST_CADDY_HOSTS_LISTEN[0]?.split(":").pop()),
    // To the notifier, which says it on the merge request (its note; a stop also stops review/mr-<iid>).
    notice: async (n) => {
      log.info({ notice: n.event, app: n.app, iid: n.iid, reason: n.reason, id: n.id }, "preview notice");
      await queues.enqueue("notify", { kind: "gitlab-mr", ...n });
    },
  },
  new LocalTarget(docker, { stopTimeoutS: config.HOIST_LOCAL_STOP_TIMEOUT_S, edges, drainS: config.HOIST_LOCAL_DRAIN_S }),
);
const previewsWorker = createWorker({
  queue: "previews",
  connection,
  prefix,
  concurrency: config.HOIST_CONCURRENCY,
  log,
  handlers: previewHandlers({ log, ports: previews }),
  // A teardown whose deployer died is taken over as soon as a deploy's would be.
  workerOptions: { lockDuration: config.HOIST_DEPLOY_STALLED_MS, stalledInterval: config.HOIST_DEPLOY_STALLED_MS },
});
shutdown.register("previews worker", () => previewsWorker.close());
// Caddy and the local containers follow the records, and ECS services the apps' scale: at start (a Caddy
// restarted empty) and every HOIST_LOCAL_RECONCILE_S; previews past their app's limits are closed then too.
const reconcile = startReconcileLoop(
  { ...reconcileDeps(deps, ports, log), previewLimits: previewLimits(previews) },
  config.HOIST_LOCAL_RECONCILE_S,
);
shutdown.register("reconcile", () => reconcile.stop());
log.info({ queue: "deploy", concurrency: config.HOIST_CONCURRENCY, prefix }, "ready");
