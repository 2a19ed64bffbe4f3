import { appNameSchema, NotFoundError, type Sealed, sealedSchema, secretContexts } from "@hoist/shared";
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

  async function open(app: string, sealed: Sealed): Promise<Record<string, string>> {
    return JSON.parse((await deps.secrets.open(sealed, secretContexts.appEnv(app))).toString("utf8")) as Record<string, string>;
  }
  const current = async (app: Awaited<ReturnType<typeof requireApp>>) => (app.env ? open(app.name, app.env) : {});

  router.get("/apps/:app/env", async (req, res) => {
    const app = await requireApp(deps, appNameSchema.parse(req.params.app));
    res.json({ names: Object.keys(await current(app)).sort() });
  });

  router.patch("/apps/:app/env", async (req, res) => {
    const name = appNameSchema.parse(req.params.app);
    const change = changeSchema.parse(req.body);
    // Read, change, write only if nobody wrote in between (else read again): two simultaneous
    // edits of one app's env both land.
    for (let attempt = 0; attempt < 20; attempt++) {
      const raw = await deps.records.apps.rawField(name, "env");
      const app = await requireApp(deps, name);
      const sealed = raw === undefined ? undefined : sealedSchema.parse(JSON.parse(raw));
      const env = { ...(sealed ? await open(app.name, sealed) : {}), ...change.set };
      for (const n of change.unset) delete env[n];
      if (Object.keys(env).length > 500) {
        res.status(400).json({ error: { code: "invalid_request", message: "at most 500 variables" } });
        return;
      }
      const next = Object.keys(env).length ? await deps.secrets.seal(JSON.stringify(env), secretContexts.appEnv(app.name)) : undefined;
      const out = await deps.records.apps.compareAndSet(app.name, "env", raw, next, { updatedAt: new Date().toISOString() });
      if (out === "missing") throw new NotFoundError(`app ${app.name} not found`);
      if (out === "set") {
        deps.apps.invalidate(app);
        // Names only: values never reach the audit log.
        res.locals.auditChange = { after: { set: Object.keys(change.set).sort(), unset: change.unset } };
        res.json({ names: Object.keys(env).sort() });
        return;
      }
    }
    res.status(409).json({ error: { code: "conflict", message: "the app's env kept changing under this edit; send it again" } });
  });

  return router;
}
