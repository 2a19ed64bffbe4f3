import { appNameSchema } from "@hoist/shared";
import { Router } from "express";
import { z } from "zod";
import type { AuthServices } from "../../auth/guard.js";
import { roleSchema } from "../../auth/roles.js";

const userParam = z.string().regex(/^\d+$/, "a GitLab user id (the number GitLab's API and the sign-in's `sub` give)");
const grantSchema = z
  .object({
    role: roleSchema.nullable().optional(),
    apps: z.record(appNameSchema, roleSchema.nullable()).optional(),
  })
  .strict()
  .refine((g) => g.role !== undefined || g.apps !== undefined, "send role (global) and/or apps ({ app: role }); null removes a grant");

/**
 * Explicit grants to GitLab users, which override the role their GitLab access level gives:
 * `role` on all apps, `apps` per app. Admins only.
 */
export function grantsRouter(auth: AuthServices): Router {
  const router = Router();

  router.get("/grants", async (_req, res) => {
    res.json({ grants: await auth.access.grants() });
  });

  router.put("/grants/:user", async (req, res) => {
    const user = userParam.parse(req.params.user);
    const input = grantSchema.parse(req.body);
    const before = (await auth.access.grants()).filter((g) => g.user === user);
    if (input.role !== undefined) await auth.access.setGrant(user, undefined, input.role);
    for (const [app, role] of Object.entries(input.apps ?? {})) await auth.access.setGrant(user, app, role);
    const after = (await auth.access.grants()).filter((g) => g.user === user);
    res.locals.auditChange = { target: user, before, after };
    res.json({ grants: after });
  });

  return router;
}
