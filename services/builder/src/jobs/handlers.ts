import type { HandlerMap } from "@hoist/shared";
import { type BuildJobDeps, processBuild } from "./build-job.js";

export function handlers(deps: BuildJobDeps): HandlerMap<"build"> {
  return {
    build: (payload, ctx) => processBuild(deps, payload.buildId, ctx),
  };
}
