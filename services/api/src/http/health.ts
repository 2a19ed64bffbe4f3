import type { Redis } from "@hoist/shared";
import { Router } from "express";

/** How long /readyz waits for Redis before saying it is not ready. */
const READY_PROBE_MS = 500;

export function healthRouter(deps: { redis: Redis }): Router {
  const router = Router();
  // Liveness: the process serves HTTP. Restarting it would not fix Redis, so Redis is not checked here.
  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    try {
      await Promise.race([
        deps.redis.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${READY_PROBE_MS} ms`)), READY_PROBE_MS).unref()),
      ]);
      res.json({ status: "ready" });
    } catch (err) {
      const reason = `redis unreachable: ${err instanceof Error ? err.message : String(err)}`;
      res.status(503).json({ status: "not ready", reason });
    }
  });
  return router;
}
