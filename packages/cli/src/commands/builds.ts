import { PipelineFailed, UsageError } from "../errors.js";
import { keyValues, table } from "../output.js";
import type { CommandContext } from "./context.js";

export type Build = {
  id: string;
  app: string;
  number: number;
  ref: string;
  sha: string;
  status: "queued" | "running" | "succeeded" | "failed" | "canceled";
  reason?: string;
  createdAt: string;
  finishedAt?: string;
  releaseId?: string;
};

export const buildEnded = (b: Build) => b.status === "succeeded" || b.status === "failed" || b.status === "canceled";

/** Renders one log entry: JSON entries carry a step, shown as the stage; plain text passes through. */
function renderLogLine(data: string, state: { step?: string }, print: (s: string) => void): void {
  let entry: { step?: string; line?: string } | undefined;
  try {
    entry = JSON.parse(data) as { step?: string; line?: string };
  } catch {
    print(data);
    return;
  }
  if (entry.step && entry.step !== state.step) {
    state.step = entry.step;
    print(`==> ${entry.step}`);
  }
  print(entry.line ?? data);
}

/** Streams a build's log until the build ends; resolves with the build's final record. */
async function followBuild(ctx: CommandContext, id: string): Promise<Build> {
  const state: { step?: string } = {};
  await ctx.client().stream(`/v1/builds/${encodeURIComponent(id)}/logs?follow=1`, (event, data) => {
    if (event !== "line") return;
    renderLogLine(data, state, (s) => ctx.out.err(s));
  });
  return ctx.client().get<Build>(`/v1/builds/${encodeURIComponent(id)}`);
}

export async function buildsCommand(ctx: CommandContext): Promise<void> {
  const { args, out, client } = ctx;
  const [first, ...rest] = args;
  if (!first) throw new UsageError("hoist builds <app> | builds logs <id> [--follow] | builds cancel <id> | builds show <id>");
  if (first === "logs") {
    const id = rest[0];
    if (!id) throw new UsageError("missing <id>: hoist builds logs <id> [--follow]");
    if (ctx.opts.follow) {
      const build = await followBuild(ctx, id);
      out.data({ build }, () => `build #${build.number} ${build.status}${build.reason ? `: ${build.reason}` : ""}`);
      if (build.status !== "succeeded") throw new PipelineFailed(`build ${build.status}${build.reason ? `: ${build.reason}` : ""}`);
      return;
    }
    const res = await client().get<{ lines: { step?: string; line: string; time?: string }[] }>(
      `/v1/builds/${encodeURIComponent(id)}/logs`,
    );
    out.data(res, () => res.lines.map((l) => (l.step ? `[${l.step}] ${l.line}` : l.line)).join("\n"));
    return;
  }
  if (first === "cancel") {
    const id = rest[0];
    if (!id) throw new UsageError("missing <id>: hoist builds cancel <id>");
    const build = await client().post<Build>(`/v1/builds/${encodeURIComponent(id)}/cancel`);
    out.data(build, () => `build #${build.number} ${build.status}`);
    return;
  }
  if (first === "show") {
    const id = rest[0];
    if (!id) throw new UsageError("missing <id>: hoist builds show <id>");
    const build = await client().get<Build>(`/v1/builds/${encodeURIComponent(id)}`);
    out.data(build, () => keyValues(build));
    return;
  }
  const res = await client().get<{ builds: Build[] }>(`/v1/apps/${encodeURIComponent(first)}/builds`);
  out.data(res, () =>
    table(
      res.builds.map((b) => ({ ...b, sha: b.sha.slice(0, 8) })),
      ["id", "number", "ref", "sha", "status", "reason", "createdAt"],
    ),
  );
}
