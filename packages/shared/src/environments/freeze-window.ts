import { Cron } from "croner";

/**
 * Deploy freezes, evaluated: whether one is open at a moment and when the last open one ends.
 * Two kinds, both deny while open (Argo CD's sync-window rule):
 * - an environment's own freeze `{ cron, duration, timezone }`: open from each time the cron
 *   fires (in the timezone, so "0 18 * * 5" is 18:00 local on both sides of a DST change) for
 *   `duration` of elapsed time;
 * - a GitLab project's freeze period `{ freeze_start, freeze_end, cron_timezone }`: open when the
 *   start cron fired more recently than the end cron (as GitLab's Ci::FreezePeriod#active?), until
 *   the end cron fires next.
 * Cron expressions are read by croner (no parser of our own); the clock is the caller's `at`.
 */

/** An environment's freeze as stored (freezes.ts validates it at the API). */
export interface FreezeSpec {
  cron: string;
  duration: string;
  timezone: string;
}

/** A GitLab freeze period as `GET /projects/:id/freeze_periods` answers it. */
export interface GitlabFreezePeriod {
  freeze_start: string;
  freeze_end: string;
  cron_timezone: string;
}

/** One open freeze: when it began, when it ends, and what it is, for people. */
interface FreezeWindow {
  start: Date;
  end: Date;
  what: string;
}

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

/** `62h`, `1d12h`, `30m` → milliseconds; throws on anything else. */
export function durationMs(duration: string): number {
  if (!/^(\d+[dhm])+$/.test(duration)) throw new Error(`"${duration}" is not a duration such as 62h, 1d12h or 30m`);
  let ms = 0;
  for (const [, n, unit] of duration.matchAll(/(\d+)([dhm])/g)) ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  if (ms <= 0) throw new Error(`"${duration}" is no time at all`);
  return ms;
}

function cronOf(pattern: string, timezone: string): Cron {
  return new Cron(pattern, { timezone, mode: "5-part" });
}

/** The cron's last firing at or before `at` (croner counts in whole seconds), if it ever fired. */
function lastFiring(cron: Cron, at: Date): Date | undefined {
  // previousRuns answers firings strictly before its reference: one second on, `at` itself counts.
  for (const d of cron.previousRuns(2, new Date(at.getTime() + 1000))) if (d.getTime() <= at.getTime()) return d;
  return undefined;
}

/** The window of an environment's freeze that holds `at`, if one does. */
export function hoistFreezeAt(freeze: FreezeSpec, at: Date): FreezeWindow | undefined {
  const start = lastFiring(cronOf(freeze.cron, freeze.timezone), at);
  if (!start) return undefined;
  const end = new Date(start.getTime() + durationMs(freeze.duration));
  return end.getTime() > at.getTime()
    ? { start, end, what: `freeze "${freeze.cron}" (${freeze.timezone}) for ${freeze.duration}` }
    : undefined;
}

/** The GitLab freeze period that holds `at`, if it is active then. */
export function gitlabFreezeAt(period: GitlabFreezePeriod, at: Date): FreezeWindow | undefined {
  const startCron = cronOf(period.freeze_start, period.cron_timezone);
  const endCron = cronOf(period.freeze_end, period.cron_timezone);
  const start = lastFiring(startCron, at);
  if (!start) return undefined;
  const lastEnd = lastFiring(endCron, at);
  if (lastEnd && lastEnd.getTime() >= start.getTime()) return undefined;
  const end = endCron.nextRun(at);
  if (!end) return undefined;
  return { start, end, what: `GitLab freeze period "${period.freeze_start}" to "${period.freeze_end}" (${period.cron_timezone})` };
}

/** Every freeze open at `at`. */
export function openFreezes(freezes: readonly FreezeSpec[], gitlab: readonly GitlabFreezePeriod[], at: Date): FreezeWindow[] {
  const open: FreezeWindow[] = [];
  for (const f of freezes) {
    const w = hoistFreezeAt(f, at);
    if (w) open.push(w);
  }
  for (const p of gitlab) {
    const w = gitlabFreezeAt(p, at);
    if (w) open.push(w);
  }
  return open;
}

/** Freezes that overlap or follow each other at once are followed this many times at most. */
const MAX_CHAIN = 100;

/**
 * Whether deploying is frozen at `now`, and until when: the end of the open freezes, followed
 * through any freeze already open at that end (two freezes back to back are one). `window` is
 * the freeze that holds `now` and ends last. Undefined: nothing is frozen now.
 */
export function frozenUntil(
  freezes: readonly FreezeSpec[],
  gitlab: readonly GitlabFreezePeriod[],
  now: Date,
): { until: Date; window: FreezeWindow } | undefined {
  let open = openFreezes(freezes, gitlab, now);
  if (open.length === 0) return undefined;
  const latest = (ws: FreezeWindow[]) => ws.reduce((a, b) => (b.end.getTime() > a.end.getTime() ? b : a));
  const window = latest(open);
  let until = window.end;
  for (let i = 0; i < MAX_CHAIN; i++) {
    open = openFreezes(freezes, gitlab, until);
    if (open.length === 0) break;
    const next = latest(open).end;
    if (next.getTime() <= until.getTime()) break;
    until = next;
  }
  return { until, window };
}
