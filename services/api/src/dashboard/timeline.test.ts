import type { Build, Release } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { stageOfStep, timeline } from "./timeline.js";

const at = (s: number) => new Date(Date.parse("2026-11-25T10:00:00Z") + s * 1000).toISOString();
const build = (over: Partial<Build>): Build => ({
  id: "bld_1",
  app: "web",
  number: 1,
  ref: "refs/heads/main",
  sha: "a".repeat(40),
  status: "succeeded",
  trigger: "push",
  createdAt: at(0),
  startedAt: at(2),
  finishedAt: at(40),
  ...over,
});
const log = [
  { ts: at(2), step: "clone", line: "fetching" },
  { ts: at(5), step: "build web", line: "STEP 1/3" },
  { ts: at(30), step: "push web", line: "pushing" },
];

describe("build timeline", () => {
  it("maps log steps to stages", () => {
    expect(stageOfStep("build web")).toBe("build");
    expect(stageOfStep("push: api")).toBe("push");
    expect(stageOfStep("compose")).toBeUndefined();
  });

  it("times every stage of a build that went live", () => {
    const release: Release = {
      id: "rel_1",
      app: "web",
      environment: "production",
      number: 1,
      buildId: "bld_1",
      status: "live",
      images: [],
      createdAt: at(41),
      deployingAt: at(42),
      liveAt: at(50),
    };
    expect(timeline(build({}), release, log)).toEqual([
      { stage: "queued", state: "done", seconds: 2 },
      { stage: "clone", state: "done", seconds: 3 },
      { stage: "build", state: "done", seconds: 25 },
      { stage: "push", state: "done", seconds: 12 },
      { stage: "deploy", state: "done", seconds: 8 },
      { stage: "live", state: "done", seconds: 0 },
    ]);
  });

  it("marks where a failed build stopped, and a running one as active", () => {
    const failed = timeline(build({ status: "failed", finishedAt: at(20) }), undefined, log.slice(0, 2));
    expect(failed.map((s) => s.state)).toEqual(["done", "done", "bad", "todo", "todo", "todo"]);
    expect(failed[2]?.seconds).toBe(15);
    const running = timeline(build({ status: "running", finishedAt: undefined }), undefined, log.slice(0, 1), Date.parse(at(4)));
    expect(running.map((s) => s.state)).toEqual(["done", "active", "todo", "todo", "todo", "todo"]);
    expect(running[1]?.seconds).toBe(2);
  });
});
