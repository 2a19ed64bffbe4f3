import type { Build, Release } from "@hoist/shared";
import type { LogEntry } from "./ports.js";

const STAGES = ["queued", "clone", "build", "push", "deploy", "live"] as const;
type Stage = (typeof STAGES)[number];

export interface StageView {
  stage: Stage;
  state: "done" | "active" | "bad" | "todo";
  seconds: number | null;
}

const t = (iso: string | undefined) => (iso ? Date.parse(iso) : undefined);

/** Which pipeline stage a log step belongs to (steps are e.g. `clone`, `build web`, `push web`). */
export function stageOfStep(step: string): Stage | undefined {
  const word = step.split(/[\s:]/)[0];
  return (STAGES as readonly string[]).includes(word ?? "") ? (word as Stage) : undefined;
}

/** The stage timeline of a build and its release, with each stage's duration. */
export function timeline(build: Build, release: Release | undefined, log: LogEntry[], now = Date.now()): StageView[] {
  const starts = new Map<Stage, number>();
  starts.set("queued", Date.parse(build.createdAt));
  for (const entry of log) {
    const stage = stageOfStep(entry.step);
    if (stage && !starts.has(stage)) starts.set(stage, Date.parse(entry.ts));
  }
  if (!starts.has("clone") && build.startedAt) starts.set("clone", Date.parse(build.startedAt));
  const deployStart = t(release?.deployingAt) ?? t(release?.createdAt);
  if (deployStart !== undefined) starts.set("deploy", deployStart);
  const liveAt = t(release?.liveAt);
  if (liveAt !== undefined) starts.set("live", liveAt);

  const buildEnd = t(build.finishedAt);
  const failed =
    build.status === "failed" || build.status === "canceled" || release?.status === "failed" || release?.status === "rolled_back";
  const inProgress =
    build.status === "queued" || build.status === "running" || release?.status === "pending" || release?.status === "deploying";
  const reached = STAGES.filter((s) => starts.has(s));
  const last = reached[reached.length - 1];
  return STAGES.map((stage, i) => {
    const start = starts.get(stage);
    if (start === undefined) return { stage, state: "todo", seconds: null };
    const nextStart = STAGES.slice(i + 1)
      .map((s) => starts.get(s))
      .find((v) => v !== undefined);
    const isLast = stage === last;
    const stageEnd = stage === "live" ? start : stage === "deploy" ? t(release?.finishedAt) : buildEnd;
    const end = nextStart ?? stageEnd ?? (isLast && inProgress ? now : undefined);
    let state: StageView["state"] = "done";
    if (isLast && stage !== "live" && failed) state = "bad";
    else if (isLast && stage !== "live" && inProgress) state = "active";
    return { stage, state, seconds: end !== undefined ? Math.max(0, (end - start) / 1000) : null };
  });
}
