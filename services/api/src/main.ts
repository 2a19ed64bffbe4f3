import {
  asCluster,
  bootService,
  ClusterFailoverWatch,
  connectRedisOrExit,
  createSecretBox,
  FailoverWatch,
  JobQueues,
  listenOrExit,
  Records,
  redisTargetFrom,
} from "@hoist/shared";
import { envSchema } from "./config.js";
import { AppCache } from "./domain/app-cache.js";
import { resealLegacySecrets } from "./domain/reseal.js";
import { createHttpServer } from "./http/app.js";

const ctx = bootService("api", envSchema);
const { config, log, shutdown } = ctx;
const redis = await connectRedisOrExit(ctx, "producer", "hoist-api");
const queues = new JobQueues(redis, config.HOIST_QUEUE_PREFIX);
shutdown.register("queues", () => queues.close());
const records = new Records(redis, config.HOIST_QUEUE_PREFIX, { retentionDays: config.HOIST_RETENTION_DAYS });
const secrets = createSecretBox(config);
// Workers hold keyrings, not the master key: what an older Hoist sealed under the master key is
// sealed again first. A secret that will not open is reported, and the API serves anyway.
await resealLegacySecrets(records, secrets, log).catch((err: unknown) =>
  log.error(
    { err: err instanceof Error ? err.message : String(err) },
    "re-sealing secrets of an older Hoist failed; workers cannot open those",
  ),
);
// Through Sentinel (or on a cluster), requests answer 503 at once while the master fails over.
const target = redisTargetFrom(config);
const cluster = asCluster(redis);
const failover =
  target.kind === "sentinel"
    ? new FailoverWatch(target, log)
    : cluster
      ? new ClusterFailoverWatch(cluster, config.HOIST_QUEUE_PREFIX, log)
      : undefined;
if (failover) shutdown.register("failover watch", async () => failover.close());
const server = createHttpServer({
  config,
  log,
  redis,
  records,
  queues,
  secrets,
  apps: new AppCache(records),
  ...(failover ? { failover } : {}),
});
await listenOrExit(server, config.HOIST_PORT, config.HOIST_HOST, "HOIST_PORT");
shutdown.register("http server", async () => {
  // Stop accepting, let in-flight requests finish, and drop idle keep-alive sockets at once.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
});
const address = server.address();
log.info({ port: typeof address === "object" && address ? address.port : config.HOIST_PORT }, "ready");
