// The Hoist workers of bench:pipeline, composed as each service's main.ts composes them (real
// records, queues, secret box, sent markers, Slack client), with only the clone/build/push and
// the rollout replaced through the services' own dependency injection.
import { tmpdir } from "node:os";
import {
  type App,
  type Build,
  createLogger,
  createWorker,
  type Image,
  JobQueues,
  LocalSecretBox,
  Records,
  type Redis,
} from "@hoist/shared";
import Docker from "dockerode";
import { Cancellations } from "../../services/builder/src/adapters/cancellations.js";
import { handlers as buildHandlers } from "../../services/builder/src/jobs/handlers.js";
import { RedisStreamReleaseLog } from "../../services/deployer/src/adapters/release-log.js";
import { handlers as deployHandlers } from "../../services/deployer/src/jobs/handlers.js";
import { deployPorts } from "../../services/deployer/src/jobs/ports.js";
import { SentMarkers } from "../../services/notifier/src/adapters/sent-marker.js";
import { handlers as notifyHandlers } from "../../services/notifier/src/jobs/handlers.js";

const log = createLogger({ service: "bench", level: process.env.BENCH_LOG_LEVEL ?? "error" });

export interface HoistWorld {
  prefix: string;
  records: Records;
  queues: JobQueues;
  secrets: LocalSecretBox;
  publicUrl: string;
  connection: () => Redis;
}

export function hoistWorld(opts: {
  prefix: string;
  producer: Redis;
  masterKey: Buffer;
  publicUrl: string;
  connection: () => Redis;
}): HoistWorld {
  return {
    prefix: opts.prefix,
    records: new Records(opts.producer, opts.prefix),
    queues: new JobQueues(opts.producer, opts.prefix),
    secrets: new LocalSecretBox(opts.masterKey),
    publicUrl: opts.publicUrl,
    connection: opts.connection,
  };
}

/** An instant build: the images a real one would have pushed. */
export const instantBuild = async (app: App, b: Build): Promise<Image[]> => [{ service: "web", tag: `bench/${app.name}:web.${b.number}` }];

/** The builder's job handlers as its main.ts composes them, with `build` as the pipeline. */
export function startBuilder(
  w: HoistWorld,
  concurrency: number,
  build: (app: App, b: Build) => Promise<Image[]>,
  onActive?: (id: string) => void,
) {
  const inner = buildHandlers({
    redis: w.connection(),
    prefix: w.prefix,
    records: w.records,
    queues: w.queues,
    cancellations: new Cancellations(),
    logMaxLines: 1000,
    log,
    pipeline: {
      docker: new Docker(),
      secrets: w.secrets,
      workDir: tmpdir(),
      pushTarget: async () => ({ prefix: "bench", insecure: true }),
    },
    runPipeline: (app, b) => build(app, b),
  });
  return createWorker({
    queue: "build",
    connection: w.connection(),
    prefix: w.prefix,
    concurrency,
    log,
    handlers: {
      build: (payload, ctx) => {
        onActive?.(payload.buildId);
        return inner.build(payload, ctx);
      },
    },
  });
}

/** The deployer's handlers with an instant, always healthy rollout; `onActive` gets the job's wait. */
export function startDeployer(w: HoistWorld, concurrency: number, onActive: (releaseId: string, waitedMs: number) => void) {
  const redis = w.connection();
  const ports = deployPorts({
    redis,
    prefix: w.prefix,
    records: w.records,
    queues: w.queues,
    secrets: w.secrets,
    docker: new Docker(),
    ecs: () => {
      throw new Error("no ECS in the bench");
    },
    releaseLog: new RedisStreamReleaseLog(redis, w.prefix),
    lockTtlMs: 30_000,
    ecsPollMs: 5000,
    ecsTimeoutS: 900,
    stopTimeoutS: 1,
  });
  const inner = deployHandlers({
    log,
    lockRetryMs: 2000,
    ports: { ...ports, targetFor: () => ({ deploy: async () => ({ ok: true }) }) },
  });
  return createWorker({
    queue: "deploy",
    connection: w.connection(),
    prefix: w.prefix,
    concurrency,
    log,
    handlers: {
      deploy: (payload, ctx) => {
        onActive(payload.releaseId, Date.now() - ctx.job.timestamp);
        return inner.deploy(payload, ctx);
      },
    },
  });
}

/** The notifier's handlers (real Slack client); `onLiveJob` gets each "live" job's creation time. */
export function startNotifier(
  w: HoistWorld,
  concurrency: number,
  onLiveJob: (releaseId: string, queuedAt: number, waitedMs: number) => void,
) {
  const inner = notifyHandlers({
    log,
    records: w.records,
    secrets: w.secrets,
    markers: new SentMarkers(w.connection(), w.prefix),
    publicUrl: w.publicUrl,
  });
  return createWorker({
    queue: "notify",
    connection: w.connection(),
    prefix: w.prefix,
    concurrency,
    log,
    handlers: {
      ...inner,
      slack: (payload, ctx) => {
        if (payload.event === "release.live" && payload.releaseId) {
          onLiveJob(payload.releaseId, ctx.job.timestamp, Date.now() - ctx.job.timestamp);
        }
        return inner.slack(payload, ctx);
      },
    },
  });
}
