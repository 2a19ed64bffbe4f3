import { type JobQueues, type Logger, outboundFetchFor, type Records, type Redis, type SecretBox } from "@hoist/shared";
import type { Env } from "./config.js";
import type { AppCache } from "./domain/app-cache.js";
import type { BuildDeps } from "./domain/builds.js";
import type { LinkDeps } from "./domain/gitlab-link.js";

/** Everything the HTTP layer needs, built once in main.ts (or by a test). */
export interface ApiDeps {
  config: Env;
  log: Logger;
  redis: Redis;
  records: Records;
  queues: JobQueues;
  secrets: SecretBox;
  /** Apps by webhook id for the webhook path; invalidate after every app write. */
  apps: AppCache;
  /** The webhook path's clock (signature age, a delivery's dedupe window); Date.now when absent. Tests move it. */
  now?: () => number;
  /** Through Sentinel: whether a failover is under way (every request but /healthz answers 503 at once meanwhile). */
  failover?: { inProgress(): boolean; epoch(): number };
}

/** The ports the build use cases (webhook, manual build, cancel) take: never the whole composition root. */
export function buildPorts(deps: ApiDeps): BuildDeps {
  const { redis, records, queues, now } = deps;
  return { redis, records, queues, prefix: deps.config.HOIST_QUEUE_PREFIX, ...(now ? { now } : {}) };
}

/** The ports linking an app to GitLab takes. */
export function linkPorts(deps: ApiDeps): LinkDeps {
  return {
    records: deps.records,
    secrets: deps.secrets,
    publicUrl: deps.config.HOIST_PUBLIC_URL,
    fetch: outboundFetchFor(deps.config.HOIST_OUTBOUND_ALLOW),
  };
}
