import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { createLogger, JobQueues, LocalSecretBox, parseEnv, Records, type Redis } from "@hoist/shared";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import express, { type Express } from "express";
import { envSchema } from "../config.js";
import type { ApiDeps } from "../deps.js";
import { AppCache } from "../domain/app-cache.js";
import { errorHandler, notFoundHandler } from "../http/errors.js";

/** A route test's world: the API's deps on real Redis under a prefix of its own, and a server for `base`. */
export interface RouteServer {
  redis: Redis;
  prefix: string;
  records: Records;
  deps: ApiDeps;
  /** http://127.0.0.1:<port>/v1 */
  base: string;
  /** Closes the server and the queues, and drops the prefix's keys. */
  close(): Promise<void>;
}

/**
 * Starts express on a free loopback port with the deps the API's routers take, `mount` adding the
 * routers under test (and any middleware before them), then the API's 404 and error handlers.
 */
export async function startRouteServer(name: string, mount: (app: Express, deps: ApiDeps) => void): Promise<RouteServer> {
  const redis = testRedis("producer");
  if (redis.status !== "ready") await once(redis, "ready");
  const prefix = uniquePrefix(name);
  const records = new Records(redis, prefix);
  const deps: ApiDeps = {
    config: parseEnv(envSchema, { HOIST_API_TOKEN: "t".repeat(32), REDIS_URL: process.env.REDIS_URL }),
    log: createLogger({ service: "api-test", level: "silent" }),
    redis,
    records,
    queues: new JobQueues(redis, prefix),
    secrets: new LocalSecretBox(randomBytes(32)),
    apps: new AppCache(records),
  };
  const app = express();
  app.use(express.json());
  mount(app, deps);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    redis,
    prefix,
    records,
    deps,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await deps.queues.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}
