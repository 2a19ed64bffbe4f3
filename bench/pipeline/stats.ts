/** Nearest-rank percentile of unsorted samples (ms). */
export function pct(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

export const fmt = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(1) : "n/a");

/**
 * What one run records, per push id (Hoist: the build id; reference: the delivery id), as
 * Date.now() of the process that saw it: every process runs on this one machine's clock.
 * The build and the rollout are the injected steps (instant on both sides), so the gaps between
 * these stamps are what each side adds around them.
 */
export interface Stamps {
  /** client: just before the webhook POST was written */
  sentAt: Map<string, number>;
  /** client: the 2xx answer arrived */
  acceptedAt: Map<string, number>;
  /** the build step was entered (Hoist: the injected runPipeline) */
  buildStart: Map<string, number>;
  /** the build step returned */
  buildEnd: Map<string, number>;
  /** the rollout was entered (Hoist: the injected target's deploy) */
  deployStart: Map<string, number>;
  /** the rollout returned */
  deployEnd: Map<string, number>;
  /** the Slack receiver got the push's "live" message */
  liveAt: Map<string, number>;
}

export type StampName = Exclude<keyof Stamps, "sentAt" | "acceptedAt" | "liveAt">;

export const emptyStamps = (): Stamps => ({
  sentAt: new Map(),
  acceptedAt: new Map(),
  buildStart: new Map(),
  buildEnd: new Map(),
  deployStart: new Map(),
  deployEnd: new Map(),
  liveAt: new Map(),
});

/** The hand-offs, each from one stamp to the next, and the whole push. */
export const stages = [
  { key: "sentToBuild", label: "webhook sent → build started  ", from: "sentAt", to: "buildStart" },
  { key: "buildToDeploy", label: "build done → rollout started  ", from: "buildEnd", to: "deployStart" },
  { key: "deployToLive", label: "rollout done → live in Slack  ", from: "deployEnd", to: "liveAt" },
  { key: "sentToLive", label: "webhook sent → live in Slack  ", from: "sentAt", to: "liveAt" },
] as const;
export type StageKey = (typeof stages)[number]["key"];
export type Samples = Record<StageKey, number[]>;

/**
 * Every interval of every push that has both stamps, never clamped: a negative one would say the
 * clocks or the stamps are wrong, and must show. `liveAt` may be filled in for pushes a newer
 * release replaced (see run.ts): those have no rollout of their own, so only their end-to-end counts.
 */
export function samplesOf(s: Stamps): Samples {
  const out = Object.fromEntries(stages.map((st) => [st.key, [] as number[]])) as Samples;
  for (const id of s.sentAt.keys()) {
    for (const st of stages) {
      const from = s[st.from].get(id);
      const to = s[st.to].get(id);
      if (from !== undefined && to !== undefined) out[st.key].push(to - from);
    }
  }
  return out;
}

export function summary(name: string, s: Samples): string {
  const row = (label: string, xs: number[]) =>
    `${label} p50 ${fmt(pct(xs, 0.5))} p99 ${fmt(pct(xs, 0.99))} max ${fmt(pct(xs, 1))} ms (n=${xs.length})`;
  return [`${name}:`, ...stages.map((st) => `  ${row(st.label, s[st.key])}`)].join("\n");
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

/** The `n` slowest pushes (sent → live), each with its stamps as clock times and the gaps between them. */
export function slowestPushes(name: string, s: Stamps, n: number): string {
  const iso = (t: number | undefined) => (t === undefined ? "-" : new Date(t).toISOString().slice(11, 23));
  const rows = [...s.sentAt.entries()]
    .map(([id, sent]) => ({ id, sent, total: (s.liveAt.get(id) ?? Number.NaN) - sent }))
    .filter((x) => Number.isFinite(x.total))
    .sort((a, b) => b.total - a.total)
    .slice(0, n)
    .map((x) => {
      const gap = (from: keyof Stamps, to: keyof Stamps) => (s[to].get(x.id) ?? Number.NaN) - (s[from].get(x.id) ?? Number.NaN);
      return `  ${x.id} sent ${iso(x.sent)} total ${x.total} ms: to build ${gap("sentAt", "buildStart")}, to rollout ${gap("buildEnd", "deployStart")}, to live ${gap("deployEnd", "liveAt")}`;
    });
  return [`${name}: the ${n} slowest pushes`, ...rows].join("\n");
}
