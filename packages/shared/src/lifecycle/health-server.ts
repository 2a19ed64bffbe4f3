import { createServer, type Server } from "node:http";
import type { Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { JobQueues } from "../queues/producer.js";
import { metricsAccess, metricsRegistry, registerQueueMetrics } from "../telemetry/metrics.js";
import type { ShutdownRegistry } from "./shutdown.js";

export type HealthCheck = () => { ok: boolean; reason?: string };

/**
 * A worker's own tiny HTTP endpoint for container health checks and orchestrators:
 * GET /healthz answers 200 while `check` passes, 503 with the reason otherwise; GET /metrics
 * serves Prometheus metrics to whom `metricsAccess` allows (the token, or loopback).
 */
export async function startHealthServer(
  port: number,
  host: string,
  check: HealthCheck,
  opts: { metricsToken?: string } = {},
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/healthz") {
      const result = check();
      res.writeHead(result.ok ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify(result.ok ? { status: "ok" } : { status: "unhealthy", reason: result.reason }));
      return;
    }
    if (req.method === "GET" && req.url === "/metrics") {
      const access = metricsAccess(req.headers.authorization, { token: opts.metricsToken, host });
      if (!access.ok) {
        res.writeHead(access.status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: access.status === 401 ? "unauthorized" : "forbidden", message: access.message } }));
        return;
      }
      metricsRegistry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": metricsRegistry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`metrics failed: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message: `no route ${req.method} ${req.url}` } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/**
 * A worker process's health endpoint, when `HOIST_HEALTH_PORT` asks for one: healthy while the
 * worker runs and its Redis connection is ready; `/metrics` also reports the shared queues.
 */
export async function serveWorkerHealth(opts: {
  config: { HOIST_HEALTH_PORT: number; HOIST_HEALTH_HOST: string; HOIST_METRICS_TOKEN?: string | undefined };
  worker: Worker;
  connection: Redis;
  queues: JobQueues;
  shutdown: ShutdownRegistry;
}): Promise<void> {
  const { config, worker, connection } = opts;
  if (!config.HOIST_HEALTH_PORT) return;
  registerQueueMetrics(opts.queues);
  const health = await startHealthServer(
    config.HOIST_HEALTH_PORT,
    config.HOIST_HEALTH_HOST,
    () =>
      worker.isRunning() && connection.status === "ready"
        ? { ok: true }
        : { ok: false, reason: `worker running: ${worker.isRunning()}, redis: ${connection.status}` },
    config.HOIST_METRICS_TOKEN ? { metricsToken: config.HOIST_METRICS_TOKEN } : {},
  );
  opts.shutdown.register("health server", () => new Promise((resolve) => health.close(resolve)));
}
