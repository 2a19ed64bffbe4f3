import { Cron } from "croner";
import { z } from "zod";

const DURATION = /^(\d{1,6}[dhm])+$/;
const PART = /(\d+)([dhm])/g;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;
/** A freeze longer than a year would never end: refused. */
const MAX_DURATION_MS = 366 * UNIT_MS.d;

/** Milliseconds of a freeze duration (`62h`, `1d12h`, `30m`); NaN for one that is not. */
export function freezeDurationMs(duration: string): number {
  if (!DURATION.test(duration)) return Number.NaN;
  let ms = 0;
  for (const [, n, unit] of duration.matchAll(PART)) ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return ms;
}

/** True for an IANA time zone name this runtime knows (`Europe/Berlin`, `UTC`). */
function knownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Why croner refuses a 5-field cron expression, or undefined when it takes it. */
function cronProblem(cron: string, timezone: string | undefined): string | undefined {
  if (cron.trim().split(/\s+/).length !== 5) return "cron is 5 fields: minute hour day-of-month month day-of-week, e.g. 0 18 * * 5";
  try {
    new Cron(cron, { paused: true, ...(timezone && knownTimeZone(timezone) ? { timezone } : {}) }).stop();
    return undefined;
  } catch (err) {
    return `cron "${cron}" is not a cron expression (${(err as Error).message}); e.g. 0 18 * * 5 is Fridays at 18:00`;
  }
}

/**
 * A deploy freeze of an environment: it opens at each time `cron` names (in `timezone`) and stays
 * open for `duration`; while one is open, releases of the environment wait `frozen`. The window's
 * evaluation is freeze-window.ts; this is the shape every boundary validates.
 */
export const freezeSchema = z
  .object({
    cron: z.string({ error: "cron is a cron expression such as 0 18 * * 5" }).min(1).max(200),
    duration: z.string({ error: "duration is one or more <n>d, <n>h, <n>m parts, e.g. 62h or 1d12h" }).superRefine((d, ctx) => {
      const ms = freezeDurationMs(d);
      const problem = Number.isNaN(ms)
        ? "duration is one or more <n>d, <n>h, <n>m parts, e.g. 62h, 1d12h or 30m"
        : ms <= 0
          ? "duration is longer than 0"
          : ms > MAX_DURATION_MS
            ? "duration is at most 366d"
            : undefined;
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    timezone: z
      .string({ error: "timezone is an IANA time zone name such as Europe/Berlin" })
      .max(64)
      .refine(knownTimeZone, {
        error: (iss) => `timezone "${String(iss.input)}" is not an IANA time zone name such as Europe/Berlin or UTC`,
      }),
  })
  .strict()
  .superRefine((f, ctx) => {
    const problem = cronProblem(f.cron, f.timezone);
    if (problem) ctx.addIssue({ code: "custom", path: ["cron"], message: problem });
  });
export type Freeze = z.infer<typeof freezeSchema>;

/** An environment's freezes (at most 20). */
export const freezesSchema = z.array(freezeSchema).max(20, "at most 20 freezes per environment");
