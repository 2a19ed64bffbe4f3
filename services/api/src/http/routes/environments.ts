import { appNameSchema, environmentNameSchema, freezesSchema, idSchema, isPreviewEnvironment, targetSchema } from "@hoist/shared";
import { Router } from "express";
import { z } from "zod";
import type { Role } from "../../auth/roles.js";
import type { ApiDeps } from "../../deps.js";
import {
  createEnvironment,
  deleteEnvironment,
  environmentView,
  promoteToEnvironment,
  requireEnvironment,
  sealEnvironmentVars,
} from "../../domain/environments.js";
import { releaseView } from "../../domain/views.js";
import { HttpError } from "../errors.js";
import { envVars } from "../schemas.js";
import { requireApp } from "./apps.js";

const requiredApprovals = z
  .number({ error: "requiredApprovals is a whole number of people" })
  .int("requiredApprovals is a whole number of people")
  .min(0, "requiredApprovals is 0 or more")
  .max(20, "requiredApprovals is at most 20");

const createSchema = z
  .object({
    // mr-<iid> is a merge request's preview, which Hoist makes itself (docs/previews.md).
    name: environmentNameSchema.refine(
      (n) => !isPreviewEnvironment(n),
      "environment names mr-<number> are reserved for merge request previews (docs/previews.md): choose another name",
    ),
    target: targetSchema,
    env: envVars.optional(),
    auto: z.boolean({ error: "auto is true or false" }).optional(),
    requiredApprovals: requiredApprovals.optional(),
    freezes: freezesSchema.optional(),
  })
  .strict();

const updateSchema = z
  .object({
    target: targetSchema,
    /** Replaces the whole set; null removes every variable. */
    env: envVars.nullable(),
    auto: z.boolean({ error: "auto is true or false" }),
    requiredApprovals,
    freezes: freezesSchema,
  })
  .partial()
  .strict();

const promoteSchema = z.union([z.object({ releaseId: idSchema }).strict(), z.object({ buildId: idSchema }).strict()], {
  error: "send { releaseId } (a release of the app, from any environment) or { buildId } (a succeeded build)",
});

const params = z.object({ app: appNameSchema, env: environmentNameSchema });

/**
 * /v1/apps/:app/environments: an app's environments (production, the app itself, and others with
 * their own target, variables, releases and policy), and promotion into one.
 */
export function environmentsRouter(deps: ApiDeps): Router {
  const router = Router();

  router.post("/apps/:app/environments", async (req, res) => {
    const app = await requireApp(deps, appNameSchema.parse(req.params.app));
    const input = createSchema.parse(req.body);
    const env = await createEnvironment(deps, app, input);
    const view = await environmentView(deps.records, env);
    res.locals.auditChange = { after: { ...view, env: Object.keys(input.env ?? {}).sort() } };
    res.status(201).json({ environment: view });
  });

  router.get("/apps/:app/environments", async (req, res) => {
    const app = await requireApp(deps, appNameSchema.parse(req.params.app));
    const envs = await deps.records.environments.list(app);
    res.json({ environments: await Promise.all(envs.map((e) => environmentView(deps.records, e))) });
  });

  router.get("/apps/:app/environments/:env", async (req, res) => {
    const p = params.parse(req.params);
    const env = await requireEnvironment(deps.records, await requireApp(deps, p.app), p.env);
    res.json({ environment: await environmentView(deps.records, env) });
  });

  router.patch("/apps/:app/environments/:env", async (req, res) => {
    const p = params.parse(req.params);
    const app = await requireApp(deps, p.app);
    const before = await requireEnvironment(deps.records, app, p.env);
    const { env: vars, ...change } = updateSchema.parse(req.body);
    const env =
      vars === undefined
        ? {}
        : { env: vars === null || Object.keys(vars).length === 0 ? null : await sealEnvironmentVars(deps.secrets, app.name, p.env, vars) };
    const updated = await deps.records.environments.update(app, p.env, { ...change, ...env });
    if (!updated) throw new HttpError(404, "not_found", `app ${app.name} has no environment ${p.env}`);
    // Production's target and variables are the app's: the webhook path's cached app is stale.
    deps.apps.invalidate(app);
    const view = await environmentView(deps.records, updated);
    res.locals.auditChange = {
      before: await environmentView(deps.records, before),
      after: { ...view, ...(vars !== undefined ? { env: Object.keys(vars ?? {}).sort() } : {}) },
    };
    res.json({ environment: view });
  });

  router.delete("/apps/:app/environments/:env", async (req, res) => {
    const p = params.parse(req.params);
    await deleteEnvironment(deps.records, await requireApp(deps, p.app), p.env);
    res.status(204).end();
  });

  router.post("/apps/:app/environments/:env/promote", async (req, res) => {
    const p = params.parse(req.params);
    const app = await requireApp(deps, p.app);
    const env = await requireEnvironment(deps.records, app, p.env);
    const from = promoteSchema.parse(req.body ?? {});
    const release = await promoteToEnvironment(deps, app, env, from, res.locals.role as Role | undefined);
    res.status(202).json(releaseView(release));
  });

  return router;
}
