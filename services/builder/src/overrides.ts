import type { runPipeline } from "./jobs/pipeline.js";

/**
 * What a harness may replace when it boots this service through its own main.ts: only the
 * clone/build/push (bench:pipeline times Hoist's hand-offs, not podman). Production sets nothing.
 * Set before main.js is imported; main.ts reads it once, when it composes the build job.
 */
interface BuilderOverrides {
  runPipeline?: typeof runPipeline;
}

const overrides: BuilderOverrides = {};

export function overrideBuilder(o: BuilderOverrides): void {
  Object.assign(overrides, o);
}

export const builderOverrides = (): Readonly<BuilderOverrides> => overrides;
