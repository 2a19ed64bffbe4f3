import { describe, expect, it } from "vitest";
import { freezeDurationMs, freezeSchema, freezesSchema } from "./freezes.js";
import { deployUnit, environmentNameSchema, parseDeployUnit } from "./names.js";

const issues = (value: unknown) => {
  const res = freezesSchema.safeParse(value);
  return res.success ? [] : res.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("freeze entries", () => {
  it("takes a cron, a duration and an IANA timezone", () => {
    expect(freezeSchema.parse({ cron: "0 18 * * 5", duration: "62h", timezone: "Europe/Berlin" })).toEqual({
      cron: "0 18 * * 5",
      duration: "62h",
      timezone: "Europe/Berlin",
    });
    expect(issues([{ cron: "30 9 1 * *", duration: "1d12h30m", timezone: "UTC" }])).toEqual([]);
  });

  it("refuses a bad cron, duration or timezone, naming the field", () => {
    expect(issues([{ cron: "0 25 * * 5", duration: "62h", timezone: "UTC" }])).toEqual([
      expect.stringMatching(/^0\.cron: cron "0 25 \* \* 5" is not a cron expression/),
    ]);
    expect(issues([{ cron: "every friday", duration: "62h", timezone: "UTC" }])).toEqual([
      expect.stringMatching(/^0\.cron: cron is 5 fields/),
    ]);
    expect(issues([{ cron: "0 0 18 * * 5", duration: "62h", timezone: "UTC" }])).toEqual([
      expect.stringMatching(/^0\.cron: cron is 5 fields/),
    ]);
    expect(issues([{ cron: "0 18 * * 5", duration: "62 hours", timezone: "UTC" }])).toEqual([
      expect.stringMatching(/^0\.duration: duration is one or more/),
    ]);
    expect(issues([{ cron: "0 18 * * 5", duration: "0h", timezone: "UTC" }])).toEqual(["0.duration: duration is longer than 0"]);
    expect(issues([{ cron: "0 18 * * 5", duration: "400d", timezone: "UTC" }])).toEqual(["0.duration: duration is at most 366d"]);
    expect(issues([{ cron: "0 18 * * 5", duration: "62h", timezone: "Mars/Olympus" }])).toEqual([
      '0.timezone: timezone "Mars/Olympus" is not an IANA time zone name such as Europe/Berlin or UTC',
    ]);
    expect(issues([{ cron: "0 18 * * 5", duration: "62h" }])).toEqual([expect.stringMatching(/^0\.timezone: /)]);
    expect(issues([{ cron: "0 18 * * 5", duration: "62h", timezone: "UTC", extra: 1 }])).toEqual([expect.stringMatching(/extra/)]);
  });

  it("reads durations as milliseconds", () => {
    expect(freezeDurationMs("62h")).toBe(62 * 3_600_000);
    expect(freezeDurationMs("1d12h")).toBe(36 * 3_600_000);
    expect(freezeDurationMs("30m")).toBe(1_800_000);
    expect(freezeDurationMs("2h30m")).toBe(150 * 60_000);
    expect(freezeDurationMs("h")).toBeNaN();
  });
});

describe("environment names and deploy units", () => {
  it("names are lowercase, start with a letter, at most 31 characters", () => {
    for (const ok of ["production", "staging", "eu-west-2", "a"]) expect(environmentNameSchema.safeParse(ok).success).toBe(true);
    for (const bad of ["", "Staging", "1st", "-x", "a".repeat(32), "a@b", "a.b", "a_b"])
      expect(environmentNameSchema.safeParse(bad).success, bad).toBe(false);
  });

  it("production's unit is the app's name; another's is <app>@<env>, and parses back", () => {
    expect(deployUnit("web", "production")).toBe("web");
    expect(deployUnit("web")).toBe("web");
    expect(deployUnit("web", "staging")).toBe("web@staging");
    expect(parseDeployUnit("web")).toEqual({ app: "web", environment: "production" });
    expect(parseDeployUnit("web@staging")).toEqual({ app: "web", environment: "staging" });
    // An app named like another's environment unit cannot exist: '@' is in no app name.
    expect(deployUnit("web--staging")).not.toBe(deployUnit("web", "staging"));
  });
});
