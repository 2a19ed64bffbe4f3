import { type App, MAX_REPLICAS, scaleSchema } from "@hoist/shared";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../../deps.js";
import { scaleView } from "../../domain/views.js";
import { HttpError } from "../errors.js";
import { requireApp } from "./apps.js";

/** The services an app's scale may name: a local target's services, an ECS target's mapped containers. */
function servicesOf(app: App): string[] | undefined {
  if (app.target.kind === "local") return Object.keys(app.target.services);
  return app.target.containers ? Object.keys(app.target.containers) : undefined;
}

/**
 * PATCH /v1/apps/:app/scale `{ "<service>": n }`: containers per service (local target; applied by the
 * deployer's reconcile, no release) or the ECS service's desiredCount, recorded on the app.
 */
export function scaleRouter(deps: ApiDeps): Router {
  const router = Router();
  router.patch("/apps/:app/scale", async (req, res) => {
    const app = await requireApp(deps, req.params.app);
    const parsed = scaleSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw new HttpError(400, "invalid_request", `scale is { "<service>": <count> }: ${z.prettifyError(parsed.error)}`);
    const asked = parsed.data;
    if (Object.keys(asked).length === 0) throw new HttpError(400, "invalid_request", 'name at least one service: { "web": 2 }');
    const known = servicesOf(app);
    const unknown = known ? Object.keys(asked).filter((s) => !known.includes(s)) : [];
    if (unknown.length > 0)
      throw new HttpError(
        400,
        "invalid_request",
        `app ${app.name} has no service ${unknown.join(", ")}; its services are ${known?.join(", ") || "(none)"}`,
      );
    if (app.target.kind === "local") {
      const bad = Object.entries(asked).filter(([, n]) => n < 1 || n > MAX_REPLICAS);
      if (bad.length > 0)
        throw new HttpError(
          400,
          "invalid_request",
          `a local-target service runs 1 to ${MAX_REPLICAS} containers (${bad.map(([s, n]) => `${s}: ${n}`).join(", ")})`,
        );
    }
    const updated = await deps.records.apps.update(app.name, { scale: { ...app.scale, ...asked } });
    if (!updated) throw new HttpError(404, "not_found", `app ${app.name} not found`);
    deps.log.info({ app: app.name, scale: asked }, "scale set");
    res.json({ app: app.name, scale: scaleView(updated) });
  });
  return router;
}
