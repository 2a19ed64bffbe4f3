import { appNameSchema } from "@hoist/shared";
import { Router } from "express";
import { z } from "zod";
import type { AuthServices } from "../../auth/guard.js";
import { principalOf } from "../../auth/guard.js";
import { atLeast, type Principal, roleSchema } from "../../auth/roles.js";
import type { ApiToken } from "../../auth/token-store.js";
import { HttpError } from "../errors.js";

export const createTokenSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    role: roleSchema,
    apps: z.array(appNameSchema).min(1).max(100).optional(),
    expiresAt: z.iso
      .datetime({ offset: true, error: "an ISO 8601 time, e.g. 2027-01-01T00:00:00Z" })
      .refine((t) => Date.parse(t) > Date.now(), "must be in the future")
      .optional(),
  })
  .strict();

/**
 * Who owns the tokens a principal makes: a user (also through one of their personal tokens), a
 * service token itself, or the bootstrap token.
 */
export function ownerOf(p: Principal): string {
  if (p.kind === "user") return `user:${p.id}`;
  if (p.kind === "token") return p.owner?.startsWith("user:") ? p.owner : `token:${p.id}`;
  return "bootstrap";
}

function tokenView(t: ApiToken) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    ...(t.apps ? { apps: t.apps } : {}),
    ...(t.expiresAt ? { expiresAt: t.expiresAt } : {}),
    createdAt: t.createdAt,
    ...(t.owner ? { owner: t.owner } : {}),
    lastUsedAt: t.lastUsedAt ?? null,
  };
}

/** A new token for `p`, no stronger than `p` unless `p` is an admin; 403 otherwise. */
export async function issueToken(auth: AuthServices, p: Principal, input: z.infer<typeof createTokenSchema>) {
  if (!atLeast(await auth.access.globalRole(p), "admin")) {
    for (const app of input.apps ?? [undefined]) {
      const have = app === undefined ? await auth.access.globalRole(p) : await auth.access.appRole(p, app);
      if (!atLeast(have, input.role))
        throw new HttpError(
          403,
          "forbidden",
          `a token may not be stronger than its maker: you have ${have ?? "no role"} ${app ? `on app ${app}` : "on all apps (name its apps)"}, not ${input.role}`,
        );
    }
  }
  return auth.tokens.create({ ...input, owner: ownerOf(p) });
}

/**
 * Personal and service tokens. Admins make tokens of any role and see and revoke every token;
 * anyone else makes tokens no stronger than themselves (their global role, or their role on each
 * of the token's apps) and sees and revokes only their own.
 */
export function tokensRouter(auth: AuthServices): Router {
  const router = Router();
  const isAdmin = async (p: Principal) => atLeast(await auth.access.globalRole(p), "admin");

  router.post("/tokens", async (req, res) => {
    const { record, token } = await issueToken(auth, principalOf(res), createTokenSchema.parse(req.body));
    res.locals.auditChange = {
      target: record.id,
      after: { name: record.name, role: record.role, apps: record.apps, expiresAt: record.expiresAt },
    };
    res.status(201).json({ id: record.id, name: record.name, role: record.role, token });
  });

  router.get("/me", async (_req, res) => {
    const p = principalOf(res);
    res.json({
      name: p.name,
      kind: p.kind,
      role: (await auth.access.globalRole(p)) ?? null,
      ...(p.kind === "token" && p.apps ? { apps: p.apps } : {}),
    });
  });

  router.get("/tokens", async (_req, res) => {
    const p = principalOf(res);
    const all = await auth.tokens.list();
    const mine = (await isAdmin(p)) ? all : all.filter((t) => t.owner === ownerOf(p));
    res.json({ tokens: mine.map(tokenView) });
  });

  router.delete("/tokens/:id", async (req, res) => {
    const p = principalOf(res);
    const token = await auth.tokens.get(req.params.id);
    if (!token || (!(await isAdmin(p)) && token.owner !== ownerOf(p)))
      throw new HttpError(404, "not_found", `token ${req.params.id} not found`);
    await auth.tokens.revoke(token.id);
    res.locals.auditChange = { target: token.id, before: { name: token.name, role: token.role } };
    res.status(204).end();
  });

  return router;
}
