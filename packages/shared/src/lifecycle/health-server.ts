import { createServer, type Server } from "node:http";
import type { Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { LivenessState, WorkerSupervisor } from "../queues/liveness.js";
import type { JobQueues } from "../queues/producer.js";
import { metricsAccess, metricsRegistry, registerQueueMetrics } from "../telemetry/metrics.js";
import type { DependencyMonitor, DependencyState } from "./dependencies.js";
import { listenOrExit } from "./listen.js";
import type { ShutdownRegistry } from "./shutdown.js";

type HealthCheck = () => { ok: boolean; reason?: string; dependencies?: DependencyState[]; worker?: LivenessState };

/**
 * A worker's own tiny HTTP endpoint for container health checks and orchestrators:
 * GET /healthz answers 200 while `check` passes ("degraded" with the reason when it passes with
 * one), 503 with the reason otherwise; GET /metrics serves Prometheus metrics to whom
 * `metricsAccess` allows (the token, or loopback).
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
      const dependencies = result.dependencies ? { dependencies: result.dependencies } : {};
      // ok with a reason: the process works but a dependency is down ("degraded", still 200:
      // restarting the worker would not bring the dependency back).
      const status = !result.ok ? "unhealthy" : result.reason ? "degraded" : "ok";
      const worker = result.worker ? { worker: result.worker } : {};
      res.end(JSON.stringify({ status, ...(result.reason ? { reason: result.reason } : {}), ...dependencies, ...worker }));
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
  await listenOrExit(server, port, host, "HOIST_HEALTH_PORT");
  return server;
}

/**
 * A worker process's health endpoint, when `HOIST_HEALTH_PORT` asks for one: healthy while the
 * worker runs and its Redis connection is ready, "degraded" (still 200) with the reason while a
 * dependency (the Docker API, a registry) does not answer; `/metrics` also reports the shared queues.
 * A supervised worker's liveness (`worker`: times it was found stuck and recreated, the last
 * reason, seconds since its last fetch) is in every answer.
 */
export async function serveWorkerHealth(opts: {
  config: { HOIST_HEALTH_PORT: number; HOIST_HEALTH_HOST: string; HOIST_METRICS_TOKEN?: string | undefined };
  worker: Worker | WorkerSupervisor;
  connection: Redis;
  queues: JobQueues;
  shutdown: ShutdownRegistry;
  dependencies?: DependencyMonitor;
}): Promise<void> {
  const { config, worker, connection, dependencies } = opts;
  if (!config.HOIST_HEALTH_PORT) return;
  registerQueueMetrics(opts.queues);
  const health = await startHealthServer(
    config.HOIST_HEALTH_PORT,
    config.HOIST_HEALTH_HOST,
    () => {
      const deps = {
        ...(dependencies ? { dependencies: dependencies.list() } : {}),
        ...("state" in worker ? { worker: worker.state() } : {}),
      };
      if (!(worker.isRunning() && connection.status === "ready")) {
        return { ok: false, reason: `worker running: ${worker.isRunning()}, redis: ${connection.status}`, ...deps };
      }
      const down = dependencies?.downReason();
      return down ? { ok: true, reason: down, ...deps } : { ok: true, ...deps };
    },
    config.HOIST_METRICS_TOKEN ? { metricsToken: config.HOIST_METRICS_TOKEN } : {},
  );
  opts.shutdown.register("health server", () => new Promise((resolve) => health.close(resolve)));
}
