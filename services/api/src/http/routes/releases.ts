import { appNameSchema, environmentNameSchema, idSchema, PRODUCTION } from "@hoist/shared";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../../deps.js";
import { promoteRelease, requireApp, rollbackApp } from "../../domain/releases.js";
import { releaseView } from "../../domain/views.js";

const appParams = z.object({ app: appNameSchema });
const releaseParams = z.object({ app: appNameSchema, id: idSchema });
const idParams = z.object({ id: idSchema });
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
  /** The environment's releases (default production: the app's releases before environments). */
  environment: environmentNameSchema.default(PRODUCTION),
});

/**
 * Releases: list, show, promote (deploy an existing release again) and rollback (a new release
 * from the previous live one). Mounted under /v1 by the API.
 */
export function releasesRouter(deps: ApiDeps): Router {
  const router = Router();

  router.get("/apps/:app/releases", async (req, res) => {
    const { app } = appParams.parse(req.params);
    const { limit, offset, environment } = listQuery.parse(req.query);
    await requireApp(deps, app);
    const releases = await deps.records.releases.listByEnvironment(app, environment, limit, offset);
    res.json({ releases: releases.map(releaseView) });
  });

  router.get("/releases/:id", async (req, res) => {
    const { id } = idParams.parse(req.params);
    res.json(releaseView(await deps.records.releases.require(id)));
  });

  router.post("/apps/:app/releases/:id/promote", async (req, res) => {
    const { app, id } = releaseParams.parse(req.params);
    res.status(202).json(releaseView(await promoteRelease(deps, app, id)));
  });

  router.post("/apps/:app/rollback", async (req, res) => {
    const { app } = appParams.parse(req.params);
    res.status(202).json(releaseView(await rollbackApp(deps, app)));
  });

  return router;
}
