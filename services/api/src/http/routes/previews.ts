import { appNameSchema } from "@hoist/shared";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../../deps.js";
import { previewView, stopPreview } from "../../domain/previews.js";
import { requireApp } from "./apps.js";

const params = z.object({
  app: appNameSchema,
  iid: z.coerce.number({ error: "iid is a merge request's number" }).int("iid is a whole number").positive("iid is positive"),
});

/** /v1/apps/:app/previews: the app's merge request previews (docs/previews.md), and stopping one. */
export function previewsRouter(deps: ApiDeps): Router {
  const router = Router();
  const domain = deps.config.HOIST_APPS_DOMAIN;

  router.get("/apps/:app/previews", async (req, res) => {
    const app = await requireApp(deps, appNameSchema.parse(req.params.app));
    const previews = await deps.records.previews.list(app.name);
    res.json({ previews: previews.map((p) => previewView(p, app, domain)) });
  });

  router.delete("/apps/:app/previews/:iid", async (req, res) => {
    const { app: name, iid } = params.parse(req.params);
    const app = await requireApp(deps, name);
    const preview = await stopPreview(deps, app.name, iid);
    res.locals.auditChange = { target: `!${iid}`, before: { status: preview.status, sha: preview.sha } };
    res.status(202).json({ status: "stopping" });
  });

  return router;
}
