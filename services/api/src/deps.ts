import type { JobQueues, Logger, Records, Redis, SecretBox } from "@hoist/shared";
import type { Env } from "./config.js";

/** Everything the HTTP layer needs, built once in main.ts (or by a test). */
export interface ApiDeps {
  config: Env;
  log: Logger;
  redis: Redis;
  records: Records;
  queues: JobQueues;
  secrets: SecretBox;
}
