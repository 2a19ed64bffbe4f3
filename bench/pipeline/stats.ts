/** Nearest-rank percentile of unsorted samples (ms). */
export function pct(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

export const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(1) : "n/a");

/**
 * What one run records, per push id (Hoist: the build id; reference: the delivery id). All times
 * come from one clock (the bench process), since every worker and the client run in it.
 */
export interface Stamps {
  /** client: when the webhook POST went out */
  sentAt: Map<string, number>;
  /** client: when the 2xx answer arrived */
  acceptedAt: Map<string, number>;
  /** build handler started (absolute) */
  buildActive: Map<string, number>;
  /** deploy handler started − its job's creation (the builder's hand-off), ms */
  deployActive: Map<string, number>;
  /** the "live" notify job's creation (absolute): the deployer's hand-off starts here */
  notifyQueued: Map<string, number>;
  /** the Slack receiver got the "live" message (absolute) */
  liveAt: Map<string, number>;
}

export const emptyStamps = (): Stamps => ({
  sentAt: new Map(),
  acceptedAt: new Map(),
  buildActive: new Map(),
  deployActive: new Map(),
  notifyQueued: new Map(),
  liveAt: new Map(),
});

export interface HandoffSamples {
  /** webhook accepted (2xx received) → build job active */
  acceptToBuild: number[];
  /** build done (deploy job added) → deploy job active */
  buildToDeploy: number[];
  /** deploy done (notify job added) → notify sent (the message reached the Slack receiver) */
  deployToNotify: number[];
  /** webhook sent → "live" message received */
  endToEnd: number[];
}

export function samplesOf(s: Stamps): HandoffSamples {
  const acceptToBuild: number[] = [];
  const endToEnd: number[] = [];
  const deployToNotify: number[] = [];
  for (const [id, accepted] of s.acceptedAt) {
    const active = s.buildActive.get(id);
    // The job can start before the answer reaches the client: that hand-off cost nothing.
    if (active !== undefined) acceptToBuild.push(Math.max(0, active - accepted));
    const sent = s.sentAt.get(id);
    const live = s.liveAt.get(id);
    if (sent !== undefined && live !== undefined) endToEnd.push(live - sent);
    const queued = s.notifyQueued.get(id);
    if (queued !== undefined && live !== undefined) deployToNotify.push(live - queued);
  }
  return { acceptToBuild, buildToDeploy: [...s.deployActive.values()], deployToNotify, endToEnd };
}

export function summary(name: string, s: HandoffSamples): string {
  const row = (label: string, xs: number[]) => `${label} p50 ${fmt(pct(xs, 0.5))} p99 ${fmt(pct(xs, 0.99))} ms (n=${xs.length})`;
  return [
    `${name}:`,
    `  ${row("webhook accepted → build active", s.acceptToBuild)}`,
    `  ${row("build done → deploy active    ", s.buildToDeploy)}`,
    `  ${row("deploy done → notify sent     ", s.deployToNotify)}`,
    `  ${row("webhook → live                ", s.endToEnd)}`,
  ].join("\n");
}

export const handoffs = ["acceptToBuild", "buildToDeploy", "deployToNotify"] as const;

/** The worst hand-off p99: the figure the target (≤ 1.5× the bare chain) is about. */
export function worstHandoffP99(s: HandoffSamples): number {
  return Math.max(...handoffs.map((h) => pct(s[h], 0.99)));
}

/** Fires `fire` at a fixed rate for `seconds` (never catching up in bursts), then waits for all. */
export async function atFixedRate(perSecond: number, seconds: number, fire: (i: number) => Promise<void>): Promise<void> {
  const total = Math.round(perSecond * seconds);
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(fire(i));
  }
  await Promise.all(pending);
}
