/** Nearest-rank percentile of unsorted samples (ms). */
export function pct(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

export const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(1) : "n/a");

export interface HandoffSamples {
  /** webhook accepted (2xx sent) → build job active */
  acceptToBuild: number[];
  /** build job done → deploy job active */
  buildToDeploy: number[];
  /** deploy job done → notify job active */
  deployToNotify: number[];
  /** webhook received → notify done (what a push costs end to end with instant steps) */
  endToEnd: number[];
}

export const emptySamples = (): HandoffSamples => ({ acceptToBuild: [], buildToDeploy: [], deployToNotify: [], endToEnd: [] });

export function summary(name: string, s: HandoffSamples): string {
  const row = (label: string, xs: number[]) => `${label} p50 ${fmt(pct(xs, 0.5))} p99 ${fmt(pct(xs, 0.99))} ms (n=${xs.length})`;
  return [
    `${name}:`,
    `  ${row("accept→build ", s.acceptToBuild)}`,
    `  ${row("build→deploy ", s.buildToDeploy)}`,
    `  ${row("deploy→notify", s.deployToNotify)}`,
    `  ${row("webhook→done ", s.endToEnd)}`,
  ].join("\n");
}

/** The worst hand-off p99: the figure the target (≤ 1.5× the bare chain) is about. */
export function worstHandoffP99(s: HandoffSamples): number {
  return Math.max(pct(s.acceptToBuild, 0.99), pct(s.buildToDeploy, 0.99), pct(s.deployToNotify, 0.99));
}

/** Fires `fire` at a fixed rate for `seconds`, waits for all, returns when done. Bounded by count. */
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
