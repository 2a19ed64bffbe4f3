import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, createRedis, createSecretBox, JobQueues, Records, type Redis, type SecretBox } from "@hoist/shared";
import { deletePrefix, testRedisUrl, uniquePrefix } from "@hoist/shared/testing";
import { type Env, envSchema } from "../../../services/api/src/config.js";
import type { ApiDeps } from "../../../services/api/src/deps.js";
import { AppCache } from "../../../services/api/src/domain/app-cache.js";
import { createHttpServer } from "../../../services/api/src/http/app.js";

export const API_TOKEN = "test-api-token-0123456789abcdef0123456789";

export interface ApiHarness {
  url: string;
  prefix: string;
  deps: ApiDeps;
  redis: Redis;
  /** The API's clock (`deps.now`): the real one moved by `offsetMs`. Set it to deliver "an hour later". */
  clock: { offsetMs: number };
  /** Calls /v1 with the API token; JSON in and out. */
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** The API's express app in-process on a free loopback port, over the real test Redis and its own key prefix. */
export async function startApi(
  opts: {
    env?: Record<string, string>;
    redisUrl?: string;
    secrets?: SecretBox /** Another API's prefix: this one then serves the same data (and leaves it on close). */;
    prefix?: string;
    /** The loopback port to listen on (a free one when absent). */
    port?: number;
  } = {},
): Promise<ApiHarness> {
  const prefix = opts.prefix ?? uniquePrefix("api");
  const dataDir = mkdtempSync(join(tmpdir(), "hoist-api-test-"));
  const config: Env = envSchema.parse({
    REDIS_URL: opts.redisUrl ?? testRedisUrl(),
    HOIST_QUEUE_PREFIX: prefix,
    HOIST_DATA_DIR: dataDir,
    HOIST_API_TOKEN: API_TOKEN,
    HOIST_PUBLIC_URL: "https://hoist.example.test",
    // Test servers and receivers live on 127.0.0.1; nothing else is ever allowed.
    HOIST_OUTBOUND_ALLOW: "127.0.0.1",
    ...opts.env,
  });
  const redis = createRedis(config.REDIS_URL, "producer", "hoist-api-test");
  if (redis.status !== "ready") await once(redis, "ready");
  const log = createLogger({ service: "api-test", level: "silent" });
  const records = new Records(redis, prefix);
  const clock = { offsetMs: 0 };
  const deps: ApiDeps = {
    config,
    log,
    redis,
    records,
    queues: new JobQueues(redis, prefix),
    secrets: opts.secrets ?? createSecretBox(config),
    apps: new AppCache(records),
    now: () => Date.now() + clock.offsetMs,
  };
  const server: Server = createHttpServer(deps).listen(opts.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    prefix,
    deps,
    redis,
    clock,
    async api(method, path, body) {
      const res = await fetch(`${url}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await deps.queues.close();
      if (redis.status === "ready" && !opts.prefix) await deletePrefix(redis, prefix);
      redis.disconnect();
    },
  };
}
