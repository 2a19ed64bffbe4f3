import {
  AuditLog,
  auditedSecretBox,
  bootService,
  cachedSecretBox,
  connectRedisOrExit,
  createSecretBox,
  createWorker,
  JobQueues,
  masterKeyWarning,
  outboundFetchFor,
  Records,
  serveWorkerHealth,
  startOutboxDrainer,
  WorkerSupervisor,
} from "@hoist/shared";
import { SentMarkers } from "./adapters/sent-marker.js";
import { envSchema } from "./config.js";
import { handlers } from "./jobs/handlers.js";

const ctx = bootService("notifier", envSchema);
const { config, log, shutdown } = ctx;
const keyWarning = masterKeyWarning(config);
if (keyWarning) log.warn(keyWarning);
const connection = await connectRedisOrExit(ctx, "worker", "hoist-notifier");
// Every secret a notification opens (Slack URL, webhook secret, GitLab token) is in the audit log;
// one opened in the last HOIST_SECRET_CACHE_S is served from memory (not opened, so not logged again).
const audit = new AuditLog(connection, config.HOIST_QUEUE_PREFIX, config.HOIST_AUDIT_RETENTION_DAYS);
const secrets = cachedSecretBox(auditedSecretBox(createSecretBox(config), audit, "notifier"), {
  ttlMs: config.HOIST_SECRET_CACHE_S * 1000,
});
const queues = new JobQueues(connection, config.HOIST_QUEUE_PREFIX);
const handlerDeps = {
  log,
  records: new Records(connection, config.HOIST_QUEUE_PREFIX, { retentionDays: config.HOIST_RETENTION_DAYS }),
  secrets,
  markers: new SentMarkers(connection, config.HOIST_QUEUE_PREFIX),
  publicUrl: config.HOIST_PUBLIC_URL,
  fetch: outboundFetchFor(config.HOIST_OUTBOUND_ALLOW),
  defaultSlackWebhookUrl: config.HOIST_SLACK_WEBHOOK_URL,
};
// A worker found stuck (connection ready, jobs waiting, no fetch for HOIST_WORKER_STUCK_S) is created again.
const worker = new WorkerSupervisor({
  queue: "notify",
  create: () =>
    createWorker({
      queue: "notify",
      connection,
      prefix: config.HOIST_QUEUE_PREFIX,
      concurrency: config.HOIST_CONCURRENCY,
      log,
      handlers: handlers(handlerDeps),
      // A crashed notifier's job is picked up again after about one lock period.
      workerOptions: { lockDuration: config.HOIST_JOB_LOCK_MS, stalledInterval: config.HOIST_JOB_LOCK_MS },
    }),
  connection,
  waiting: () => queues.queue("notify").getWaitingCount(),
  concurrency: config.HOIST_CONCURRENCY,
  stuckMs: config.HOIST_WORKER_STUCK_S * 1000,
  log,
});
// Registered after Redis, so it closes first: active jobs finish before the connection goes.
shutdown.register("notify worker", () => worker.close());
await worker.current.waitUntilReady();
// Sends the notify jobs of transitions whose process died between storing and sending them.
shutdown.register("outbox drainer", startOutboxDrainer({ redis: connection, prefix: config.HOIST_QUEUE_PREFIX, queues, log }));
await serveWorkerHealth({ config, worker, connection, queues, shutdown });
log.info(
  { queue: "notify", concurrency: config.HOIST_CONCURRENCY, prefix: config.HOIST_QUEUE_PREFIX, publicUrl: config.HOIST_PUBLIC_URL },
  "ready",
);
