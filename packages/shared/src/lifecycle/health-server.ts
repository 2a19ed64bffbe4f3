import { createServer, type Server } from "node:http";
import { metricsRegistry } from "../telemetry/metrics.js";

export type HealthCheck = () => { ok: boolean; reason?: string };

/**
 * A worker's own tiny HTTP endpoint for container health checks and orchestrators:
 * GET /healthz answers 200 while `check` passes, 503 with the reason otherwise; GET /metrics
 * serves Prometheus metrics.
 */
export async function startHealthServer(port: number, host: string, check: HealthCheck): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/healthz") {
      const result = check();
      res.writeHead(result.ok ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify(result.ok ? { status: "ok" } : { status: "unhealthy", reason: result.reason }));
      return;
    }
    if (req.method === "GET" && req.url === "/metrics") {
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
