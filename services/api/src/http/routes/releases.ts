import { appNameSchema, idSchema, type Release } from "@hoist/shared";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../../deps.js";
import { promoteRelease, requireApp, rollbackApp } from "../../domain/releases.js";

/** What the API shows of a release (the sealed environment and image digests stay inside). */
interface ReleaseView {
  id: string;
  app: string;
  number: number;
  buildId: string;
  status: Release["status"];
  reason?: string;
  createdAt: string;
  liveAt?: string;
  /** Its gates: approvals asked for and given (who, how, when), a rejection, a freeze, an override. */
  requiredApprovals?: number;
  approvals?: NonNullable<Release["approvals"]>;
  rejection?: NonNullable<Release["rejection"]>;
  frozenUntil?: string;
  freeze?: string;
  override?: NonNullable<Release["override"]>;
}

export function releaseView(r: Release): ReleaseView {
  return {
    id: r.id,
    app: r.app,
    number: r.number,
    buildId: r.buildId,
    status: r.status,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    createdAt: r.createdAt,
    ...(r.liveAt !== undefined ? { liveAt: r.liveAt } : {}),
    ...(r.requiredApprovals !== undefined ? { requiredApprovals: r.requiredApprovals } : {}),
    ...(r.approvals !== undefined ? { approvals: r.approvals } : {}),
    ...(r.rejection !== undefined ? { rejection: r.rejection } : {}),
    ...(r.frozenUntil !== undefined ? { frozenUntil: r.frozenUntil } : {}),
    ...(r.freeze !== undefined ? { freeze: r.freeze } : {}),
    ...(r.override !== undefined ? { override: r.override } : {}),
  };
}

const appParams = z.object({ app: appNameSchema });
const releaseParams = z.object({ app: appNameSchema, id: idSchema });
const idParams = z.object({ id: idSchema });
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

/**
 * Releases: list, show, promote (deploy an existing release again) and rollback (a new release
 * from the previous live one). Mounted under /v1 by the API.
 */
export function releasesRouter(deps: ApiDeps): Router {
  const router = Router();

  router.get("/apps/:app/releases", async (req, res) => {
    const { app } = appParams.parse(req.params);
    const { limit, offset } = listQuery.parse(req.query);
    await requireApp(deps, app);
    const releases = await deps.records.releases.listByApp(app, limit, offset);
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
