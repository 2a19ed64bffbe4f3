import { appNameSchema, secretContexts } from "@hoist/shared";
import { Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../../deps.js";
import { requireApp } from "./apps.js";

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "env names are letters, digits and '_', not starting with a digit");
const changeSchema = z
  .object({
    set: z.record(envName, z.string().max(65536)).default({}),
    unset: z.array(envName).max(500).default([]),
  })
  .strict();

/**
 * App environment, one variable at a time (`PATCH /v1/apps/:app` replaces the whole set). Values
 * stay sealed at rest and are never answered: `GET` lists the names only.
 */
export function envRouter(deps: ApiDeps): Router {
  const router = Router();

  async function current(app: Awaited<ReturnType<typeof requireApp>>): Promise<Record<string, string>> {
    if (!app.env) return {};
    return JSON.parse((await deps.secrets.open(app.env, secretContexts.appEnv(app.name))).toString("utf8")) as Record<string, string>;
  }

  router.get("/apps/:app/env", async (req, res) => {
    const app = await requireApp(deps, appNameSchema.parse(req.params.app));
    res.json({ names: Object.keys(await current(app)).sort() });
  });

  router.patch("/apps/:app/env", async (req, res) => {
    const app = await requireApp(deps, appNameSchema.parse(req.params.app));
    const change = changeSchema.parse(req.body);
    const env = { ...(await current(app)), ...change.set };
    for (const name of change.unset) delete env[name];
    if (Object.keys(env).length > 500) {
      res.status(400).json({ error: { code: "invalid_request", message: "at most 500 variables" } });
      return;
    }
    if (Object.keys(env).length === 0) await deps.records.apps.unset(app.name, ["env"]);
    else await deps.records.apps.update(app.name, { env: await deps.secrets.seal(JSON.stringify(env), secretContexts.appEnv(app.name)) });
    deps.apps.invalidate(app);
    res.json({ names: Object.keys(env).sort() });
  });

  return router;
}
