import { type Actor, type AuditVia, appNameSchema, idSchema, recordKeys } from "@hoist/shared";
import { type Response, Router } from "express";
import { z } from "zod";
import { principalOf } from "../../auth/guard.js";
import type { Principal } from "../../auth/roles.js";
import type { ApiDeps } from "../../deps.js";
import { approveRelease, deployNow, rejectRelease } from "../../domain/approvals.js";
import { releaseView } from "../../domain/views.js";
import { HttpError } from "../errors.js";

const params = z.object({
  app: appNameSchema,
  env: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "an environment name: a lowercase letter, then letters, digits and '-' (31 at most)"),
  id: idSchema,
});
const reasonBody = z.object({
  reason: z
    .string({ error: "reason is required: say why (it is recorded on the release)" })
    .trim()
    .min(1, "reason is required: say why (it is recorded on the release)")
    .max(1000, "reason is at most 1000 characters"),
});

/**
 * The person a request stands for: a signed-in GitLab user, or an API token a person made
 * (owner `user:<id>`). Approvals are given by people, so the bootstrap token and tokens nobody
 * owns are refused. `name` is the person's GitLab username when they signed in once.
 */
export async function personOf(deps: Pick<ApiDeps, "redis" | "config">, p: Principal): Promise<{ by: string; name: string } | undefined> {
  const userId = p.kind === "user" ? p.id : p.kind === "token" && p.owner?.startsWith("user:") ? p.owner.slice(5) : undefined;
  if (!userId) return undefined;
  const username = await deps.redis.hget(recordKeys(deps.config.HOIST_QUEUE_PREFIX).person(userId), "username");
  return { by: `user:${userId}`, name: username ?? (p.kind === "user" ? p.name : `user ${userId}`) };
}

const viaOf = (res: Response): Actor["via"] => {
  const via = res.locals.via as AuditVia | undefined;
  return via === "cli" || via === "dashboard" || via === "slack" ? via : "api";
};

export const NOT_A_PERSON =
  "approvals are given by people: sign in with GitLab, or use an API token you made while signed in (hoist tokens create); the bootstrap token and tokens nobody owns cannot approve";

/** Approve, reject and deploy-now of a release in an environment. Mounted under /v1 by the API. */
export function approvalsRouter(deps: ApiDeps): Router {
  const router = Router();

  router.post("/apps/:app/environments/:env/releases/:id/approve", async (req, res) => {
    const { app, env, id } = params.parse(req.params);
    const person = await personOf(deps, principalOf(res));
    if (!person) throw new HttpError(403, "person_required", NOT_A_PERSON);
    const release = await approveRelease(deps, app, env, id, { ...person, via: viaOf(res) });
    res.locals.auditChange = {
      target: id,
      after: { approvals: release.approvals?.length ?? 0, requiredApprovals: release.requiredApprovals },
    };
    res.json(releaseView(release));
  });

  router.post("/apps/:app/environments/:env/releases/:id/reject", async (req, res) => {
    const { app, env, id } = params.parse(req.params);
    const { reason } = reasonBody.parse(req.body ?? {});
    const person = await personOf(deps, principalOf(res));
    if (!person) throw new HttpError(403, "person_required", NOT_A_PERSON);
    const release = await rejectRelease(deps, app, env, id, { ...person, via: viaOf(res) }, reason);
    res.locals.auditChange = { target: id, after: { status: release.status, reason } };
    res.json(releaseView(release));
  });

  router.post("/apps/:app/environments/:env/releases/:id/deploy-now", async (req, res) => {
    const { app, env, id } = params.parse(req.params);
    const { reason } = reasonBody.parse(req.body ?? {});
    // An operator's override: a person when there is one, else the token (or bootstrap) by name.
    const p = principalOf(res);
    const person = (await personOf(deps, principalOf(res))) ?? {
      by: p.kind === "token" ? `token:${p.id}` : p.kind === "user" ? `user:${p.id}` : "bootstrap",
      name: p.name,
    };
    const release = await deployNow(deps, app, env, id, { ...person, via: viaOf(res) }, reason);
    res.locals.auditChange = { target: id, after: { override: reason } };
    res.status(202).json(releaseView(release));
  });

  return router;
}
