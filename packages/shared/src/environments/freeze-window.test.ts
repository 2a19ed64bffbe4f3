import { describe, expect, it } from "vitest";
import { durationMs, frozenUntil, gitlabFreezeAt, hoistFreezeAt, openFreezes } from "./freeze-window.js";

const at = (iso: string) => new Date(iso);
/** Friday 18:00 in Berlin, for 62 hours: the weekend freeze. */
const weekend = { cron: "0 18 * * 5", duration: "62h", timezone: "Europe/Berlin" };

describe("durationMs", () => {
  it("reads days, hours and minutes, in any combination", () => {
    expect(durationMs("62h")).toBe(62 * 3_600_000);
    expect(durationMs("1d12h")).toBe(36 * 3_600_000);
    expect(durationMs("30m")).toBe(30 * 60_000);
    expect(durationMs("1d1h1m")).toBe(86_400_000 + 3_600_000 + 60_000);
  });
  it("refuses anything else", () => {
    for (const bad of ["", "62", "h", "1w", "-1h", "1.5h", "0m", "1h 30m"]) expect(() => durationMs(bad), bad).toThrow();
  });
});

describe("an environment's freeze", () => {
  it("is open from the cron's firing, in its timezone, for the duration", () => {
    // Friday 2026-12-04 18:00 in Berlin (CET, UTC+1) is 17:00Z; 62 h later is Monday 07:00Z.
    expect(hoistFreezeAt(weekend, at("2026-12-04T16:59:59Z"))).toBeUndefined();
    const w = hoistFreezeAt(weekend, at("2026-12-04T17:00:00Z"));
    expect(w?.start.toISOString()).toBe("2026-12-04T17:00:00.000Z");
    expect(w?.end.toISOString()).toBe("2026-12-07T07:00:00.000Z");
    expect(hoistFreezeAt(weekend, at("2026-12-06T12:00:00Z"))?.end.toISOString()).toBe("2026-12-07T07:00:00.000Z");
    expect(hoistFreezeAt(weekend, at("2026-12-07T06:59:59Z"))).toBeDefined();
    // The end is not in it.
    expect(hoistFreezeAt(weekend, at("2026-12-07T07:00:00Z"))).toBeUndefined();
    expect(hoistFreezeAt(weekend, at("2026-12-09T12:00:00Z"))).toBeUndefined();
  });

  it("follows the timezone across a DST change: 18:00 local before and after, 62 elapsed hours each", () => {
    // Berlin moves to CEST (UTC+2) on Sunday 2026-03-29, inside the freeze that began Friday at 17:00Z.
    const before = hoistFreezeAt(weekend, at("2026-03-28T12:00:00Z"));
    expect(before?.start.toISOString()).toBe("2026-03-27T17:00:00.000Z");
    expect(before?.end.toISOString()).toBe("2026-03-30T07:00:00.000Z");
    const after = hoistFreezeAt(weekend, at("2026-04-03T16:30:00Z"));
    expect(after?.start.toISOString()).toBe("2026-04-03T16:00:00.000Z");
    expect(hoistFreezeAt(weekend, at("2026-04-03T15:59:00Z"))).toBeUndefined();
  });

  it("reads the same cron in another timezone at another instant", () => {
    const ny = { ...weekend, timezone: "America/New_York" };
    expect(hoistFreezeAt(ny, at("2026-12-04T17:30:00Z"))).toBeUndefined();
    expect(hoistFreezeAt(ny, at("2026-12-04T23:00:00Z"))?.start.toISOString()).toBe("2026-12-04T23:00:00.000Z");
  });
});

describe("a GitLab freeze period", () => {
  const period = { freeze_start: "0 23 * * 5", freeze_end: "0 7 * * 1", cron_timezone: "UTC" };
  it("is open when its start fired more recently than its end, until the end fires next", () => {
    expect(gitlabFreezeAt(period, at("2026-12-04T22:59:00Z"))).toBeUndefined();
    const w = gitlabFreezeAt(period, at("2026-12-05T12:00:00Z"));
    expect(w?.start.toISOString()).toBe("2026-12-04T23:00:00.000Z");
    expect(w?.end.toISOString()).toBe("2026-12-07T07:00:00.000Z");
    expect(w?.what).toContain("GitLab freeze period");
    expect(gitlabFreezeAt(period, at("2026-12-07T07:00:00Z"))).toBeUndefined();
    expect(gitlabFreezeAt(period, at("2026-12-08T12:00:00Z"))).toBeUndefined();
  });
  it("reads its crons in cron_timezone", () => {
    const tokyo = { ...period, cron_timezone: "Asia/Tokyo" };
    // Friday 23:00 in Tokyo is 14:00Z.
    expect(gitlabFreezeAt(tokyo, at("2026-12-04T14:30:00Z"))?.start.toISOString()).toBe("2026-12-04T14:00:00.000Z");
  });
});

describe("frozenUntil: every open freeze, followed through freezes that begin as one ends", () => {
  it("is undefined when nothing is open", () => {
    expect(frozenUntil([weekend], [], at("2026-12-09T12:00:00Z"))).toBeUndefined();
    expect(openFreezes([], [], at("2026-12-09T12:00:00Z"))).toEqual([]);
  });
  it("ends with the last of the freezes open now", () => {
    const long = { cron: "0 17 * * 5", duration: "3d", timezone: "UTC" };
    const f = frozenUntil([weekend, long], [], at("2026-12-05T12:00:00Z"));
    expect(f?.until.toISOString()).toBe("2026-12-07T17:00:00.000Z");
  });
  it("chains a GitLab period that is open when the environment's freeze ends", () => {
    const monday = { freeze_start: "0 6 * * 1", freeze_end: "0 12 * * 1", cron_timezone: "UTC" };
    const f = frozenUntil([weekend], [monday], at("2026-12-05T12:00:00Z"));
    expect(f?.until.toISOString()).toBe("2026-12-07T12:00:00.000Z");
    expect(f?.window.end.toISOString()).toBe("2026-12-07T07:00:00.000Z");
  });
});
