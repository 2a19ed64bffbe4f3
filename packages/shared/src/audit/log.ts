import type { Redis } from "ioredis";
import { z } from "zod";
import { recordKeys } from "../records/keys.js";

/**
 * One audit entry: who did what, on which app (and environment: null when the write concerned none),
 * how, from where, and when. `actorKind` `gitlab`: GitLab said who (a push); `service`: a worker
 * (builder, deployer, notifier) acting on its own, e.g. opening a secret for a job.
 */
const auditEntrySchema = z.object({
  at: z.string(),
  actor: z.string(),
  actorKind: z.enum(["bootstrap", "token", "user", "gitlab", "service"]),
  via: z.enum(["api", "cli", "dashboard", "webhook", "slack", "worker"]),
  action: z.string(),
  app: z.string().optional(),
  environment: z.string().nullable().default(null),
  target: z.string().optional(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  address: z.string().optional(),
  status: z.number().optional(),
});
/** An entry as read back: `environment` always present (null when the write concerned none). */
export type AuditEntry = z.infer<typeof auditEntrySchema>;
/** An entry as written: `environment` may be left out (null). */
export type NewAuditEntry = z.input<typeof auditEntrySchema>;
export type AuditVia = AuditEntry["via"];

export const auditQuerySchema = z
  .object({
    app: z.string().min(1).optional(),
    actor: z.string().min(1).optional(),
    since: z
      .string()
      .refine((s) => !Number.isNaN(Date.parse(s)), "an ISO 8601 time, e.g. 2026-12-01T00:00:00Z")
      .optional(),
    cursor: z
      .string()
      .regex(/^\d+-\d+$/, "the `next` of the previous page")
      .optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
type AuditQuery = z.infer<typeof auditQuerySchema>;

const MASK = "••••";
/** Field names whose values never enter the log: a secret's presence is logged, not the secret. */
const SECRET_NAME = /secret|token|password|private|key|slack|webhookurl|^env$/i;

/** What may stay of a secret-named field: nothing set (null), or whether it is (`true`, `{ configured: true }`). */
const presenceOnly = (v: unknown) =>
  v === null ||
  v === undefined ||
  typeof v === "boolean" ||
  (typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "boolean"));

/**
 * A copy of `value` with every secret-named field (at any depth) replaced by a mask, unless it
 * only says whether the secret is set: a change of a secret shows as set/unset, never its value.
 */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_NAME.test(k) && !presenceOnly(v) ? MASK : maskSecrets(v)]));
  }
  return value;
}

/**
 * The audit log: a Redis stream, one entry per write, trimmed to `retentionDays` by entry age
 * (MINID) on each append. Entries are read oldest first, filtered, in pages. The workers' Redis
 * users may only append (XADD) to it: they cannot read, trim or delete it (redis/acl.ts).
 */
export class AuditLog {
  private readonly key: string;
  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly retentionDays: number,
  ) {
    this.key = recordKeys(prefix).audit;
  }

  async append(entry: NewAuditEntry): Promise<void> {
    const masked = {
      ...entry,
      environment: entry.environment ?? null,
      ...(entry.before !== undefined ? { before: maskSecrets(entry.before) } : {}),
      ...(entry.after !== undefined ? { after: maskSecrets(entry.after) } : {}),
    };
    const minId = Date.now() - this.retentionDays * 86_400_000;
    await this.redis.xadd(this.key, "MINID", "~", String(minId), "*", "e", JSON.stringify(masked));
  }

  /** One page of matching entries, oldest first, and the cursor of the next page when there may be one. */
  async read(q: AuditQuery): Promise<{ entries: (AuditEntry & { id: string })[]; next?: string }> {
    const entries: (AuditEntry & { id: string })[] = [];
    let start = q.cursor ? `(${q.cursor}` : q.since ? String(Date.parse(q.since)) : "-";
    for (;;) {
      const batch = await this.redis.xrange(this.key, start, "+", "COUNT", 500);
      for (const [id, fields] of batch) {
        const raw = fields[fields.indexOf("e") + 1];
        const parsed = raw ? auditEntrySchema.safeParse(JSON.parse(raw)) : undefined;
        if (!parsed?.success) continue;
        const e = parsed.data;
        if (q.app && e.app !== q.app) continue;
        if (q.actor && e.actor !== q.actor) continue;
        entries.push({ id, ...e });
        if (entries.length === q.limit) return { entries, next: id };
      }
      const last = batch.at(-1);
      if (!last || batch.length < 500) return { entries };
      start = `(${last[0]}`;
    }
  }
}
