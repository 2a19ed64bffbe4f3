import type { JobQueues, Logger, Records, Redis, SecretBox } from "@hoist/shared";
import type { Env } from "./config.js";
import type { AppCache } from "./domain/app-cache.js";

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
}
