import { auditQuerySchema } from "@hoist/shared";
import { Router } from "express";
import type { AuthServices } from "../../auth/guard.js";

/** `GET /v1/audit?app=&actor=&since=` (paged by `cursor`) and its JSON-lines export. */
export function auditRouter(auth: AuthServices): Router {
  const router = Router();

  router.get("/audit", async (req, res) => {
    const q = auditQuerySchema.parse(req.query);
    const page = await auth.audit.read(q);
    res.json({ entries: page.entries, ...(page.next ? { next: page.next } : {}) });
  });

  router.get("/audit/export", async (req, res) => {
    await exportJsonLines(auth, req.query, res);
  });

  return router;
}

/** Every matching entry, one JSON object a line (application/jsonl), read page by page. */
export async function exportJsonLines(auth: AuthServices, query: unknown, res: import("express").Response): Promise<void> {
  const base = auditQuerySchema.omit({ cursor: true, limit: true }).parse(query);
  res.type("application/jsonl").setHeader("content-disposition", 'attachment; filename="hoist-audit.jsonl"');
  let cursor: string | undefined;
  do {
    const page = await auth.audit.read({ ...base, limit: 500, ...(cursor ? { cursor } : {}) });
    for (const e of page.entries) res.write(`${JSON.stringify(e)}\n`);
    cursor = page.next;
  } while (cursor);
  res.end();
}
