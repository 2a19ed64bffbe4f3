import type { Build, Release } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { deliveryMetrics, percentile } from "./delivery-metrics.js";

const NOW = Date.parse("2026-11-25T12:00:00Z");
const iso = (hoursAgo: number) => new Date(NOW - hoursAgo * 3600_000).toISOString();

let n = 0;
function build(committedHoursAgo: number): Build {
  n++;
  return {
    id: `bld_${n}`,
    app: "web",
    number: n,
    ref: "refs/heads/main",
    sha: "a".repeat(40),
    status: "succeeded",
    trigger: "push",
    commit: { timestamp: iso(committedHoursAgo) },
    createdAt: iso(committedHoursAgo),
  };
}
function release(b: Build, status: Release["status"], createdHoursAgo: number, extra: Partial<Release> = {}): Release {
  return {
    id: `rel_${b.id}`,
    app: "web",
    environment: "production",
    number: b.number,
    buildId: b.id,
    status,
    images: [],
    createdAt: iso(createdHoursAgo),
    ...extra,
  };
}

describe("delivery metrics (DORA)", () => {
  it("nearest-rank percentiles", () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
  });

  it("counts deployments, lead times, failures and restores in the window", () => {
    const b1 = build(50); // committed 50 h ago, live 48 h ago: lead 2 h
    const b2 = build(30); // live 29 h ago: lead 1 h
    const b3 = build(20); // failed at 19 h ago
    const b4 = build(10); // live 9 h ago: lead 1 h, restores b3's failure after 10 h
    const b5 = build(24 * 20); // outside the 7-day window
    const b6 = build(5); // superseded: not a judged attempt
    const releases = [
      release(b1, "retired", 49, { liveAt: iso(48) }),
      release(b2, "rolled_back", 29.5, { liveAt: iso(29), finishedAt: iso(28) }),
      release(b3, "failed", 19.5, { finishedAt: iso(19), reason: "health check failed" }),
      release(b4, "live", 9.5, { liveAt: iso(9) }),
      release(b5, "retired", 24 * 20, { liveAt: iso(24 * 20 - 1) }),
      release(b6, "failed", 5, { reason: "superseded" }),
    ];
    const builds = new Map([b1, b2, b3, b4, b5, b6].map((b) => [b.id, b]));
    const m7 = deliveryMetrics(releases, builds, 7, NOW);
    expect(m7.deployments).toBe(3);
    expect(m7.deploymentsPerDay).toBe(0.43);
    expect(m7.leadTimeSeconds).toEqual({ median: 3600, p90: 7200, samples: 3 });
    expect(m7.failures).toBe(2);
    expect(m7.changeFailureRate).toBe(0.5);
    // b2 rolled back at 28 h ago → next live at 9 h ago = 19 h; b3 failed at 19 h ago → 10 h.
    expect(m7.timeToRestoreSeconds).toEqual({ median: 10 * 3600, samples: 2 });
    const m30 = deliveryMetrics(releases, builds, 30, NOW);
    expect(m30.deployments).toBe(4);
    expect(m30.changeFailureRate).toBe(0.4);
  });

  it("gives a rollback no lead time and reports nulls when nothing happened", () => {
    const b = build(3);
    const rollback = release(b, "live", 2, { liveAt: iso(1), sourceReleaseId: "rel_old" });
    const m = deliveryMetrics([rollback], new Map([[b.id, b]]), 7, NOW);
    expect(m.deployments).toBe(1);
    expect(m.leadTimeSeconds.samples).toBe(0);
    const empty = deliveryMetrics([], new Map(), 30, NOW);
    expect(empty).toMatchObject({ deployments: 0, changeFailureRate: null, leadTimeSeconds: { median: null } });
  });
});
