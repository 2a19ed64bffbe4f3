import { Router } from "express";
import { type ApiDeps, buildPorts } from "../../deps.js";
import { cancelBuild, finishBuild, storeBuild } from "../../domain/builds.js";
import { resolveRef } from "../../domain/resolve-ref.js";
import { buildView } from "../../domain/views.js";
import { HttpError } from "../errors.js";
import { manualBuildSchema } from "../schemas.js";
import { requireApp } from "./apps.js";

/** Manual builds, build listings and cancel. */
export function buildsRouter(deps: ApiDeps): Router {
  const router = Router();
  const buildDeps = buildPorts(deps);

  router.post("/apps/:app/builds", async (req, res) => {
    const input = manualBuildSchema.parse(req.body);
    const app = await requireApp(deps, req.params.app);
    let target = { ref: input.ref, sha: input.sha };
    if (!target.sha) {
      const resolved = await resolveRef(app, input.ref, { secrets: deps.secrets, localRepos: deps.config.HOIST_LOCAL_REPOS });
      // Pinned as the builder would on its first clone; a later change of key is then refused.
      if (resolved.firstHostKeys) {
        await deps.records.apps.update(app.name, { hostKeys: resolved.firstHostKeys });
        deps.apps.invalidate(app);
      }
      target = resolved;
    }
    const build = await storeBuild(buildDeps, {
      app: app.name,
      ref: target.ref,
      sha: target.sha as string,
      trigger: "manual",
      ...(input.noCache ? { noCache: true } : {}),
    });
    await finishBuild(buildDeps, build, app);
    // Accepted: the build is queued; its outcome comes later (GET /v1/builds/:id, its log).
    res.status(202).json(buildView(build));
  });

  router.get("/apps/:app/builds", async (req, res) => {
    const app = await requireApp(deps, req.params.app);
    const limit = Math.min(Math.max(Number(req.query.limit ?? 50) || 50, 1), 200);
    const builds = await deps.records.builds.listByApp(app.name, limit);
    res.json({ builds: builds.map(buildView) });
  });

  router.get("/builds/:id", async (req, res) => {
    const build = await deps.records.builds.get(req.params.id);
    if (!build) throw new HttpError(404, "not_found", `build ${req.params.id} not found`);
    res.json(buildView(build));
  });

  router.post("/builds/:id/cancel", async (req, res) => {
    const out = await cancelBuild(buildDeps, req.params.id, "user");
    if (!out.ok && out.reason === "missing") throw new HttpError(404, "not_found", `build ${req.params.id} not found`);
    if (!out.ok)
      throw new HttpError(
        409,
        "conflict",
        `build ${req.params.id} is already ${out.current}; only queued or running builds can be canceled`,
      );
    res.json(buildView(out.build));
  });

  return router;
}
