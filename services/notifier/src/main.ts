import {
  bootService,
  connectRedisOrExit,
  createSecretBox,
  createWorker,
  JobQueues,
  masterKeyWarning,
  outboundFetchFor,
  Records,
  serveWorkerHealth,
  startOutboxDrainer,
} from "@hoist/shared";
import { SentMarkers } from "./adapters/sent-marker.js";
import { envSchema } from "./config.js";
import { handlers } from "./jobs/handlers.js";

const ctx = bootService("notifier", envSchema);
const { config, log, shutdown } = ctx;
const keyWarning = masterKeyWarning(config);
if (keyWarning) log.warn(keyWarning);
const connection = await connectRedisOrExit(ctx, "worker", "hoist-notifier");
const secrets = createSecretBox(config);
const worker = createWorker({
  queue: "notify",
  connection,
  prefix: config.HOIST_QUEUE_PREFIX,
  concurrency: config.HOIST_CONCURRENCY,
  log,
  handlers: handlers({
    log,
    records: new Records(connection, config.HOIST_QUEUE_PREFIX, { retentionDays: config.HOIST_RETENTION_DAYS }),
    secrets,
    markers: new SentMarkers(connection, config.HOIST_QUEUE_PREFIX),
    publicUrl: config.HOIST_PUBLIC_URL,
    fetch: outboundFetchFor(config.HOIST_OUTBOUND_ALLOW),
    defaultSlackWebhookUrl: config.HOIST_SLACK_WEBHOOK_URL,
  }),
  // A crashed notifier's job is picked up again after about one lock period.
  workerOptions: { lockDuration: config.HOIST_JOB_LOCK_MS, stalledInterval: config.HOIST_JOB_LOCK_MS },
});
// Registered after Redis, so it closes first: active jobs finish before the connection goes.
shutdown.register("notify worker", () => worker.close());
await worker.waitUntilReady();
const queues = new JobQueues(connection, config.HOIST_QUEUE_PREFIX);
// Sends the notify jobs of transitions whose process died between storing and sending them.
shutdown.register("outbox drainer", startOutboxDrainer({ redis: connection, prefix: config.HOIST_QUEUE_PREFIX, queues, log }));
await serveWorkerHealth({ config, worker, connection, queues, shutdown });
log.info(
  { queue: "notify", concurrency: config.HOIST_CONCURRENCY, prefix: config.HOIST_QUEUE_PREFIX, publicUrl: config.HOIST_PUBLIC_URL },
  "ready",
);
