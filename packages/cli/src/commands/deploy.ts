import { PipelineFailed, UsageError } from "../errors.js";
import { type Build, buildEnded } from "./builds.js";
import type { CommandContext } from "./context.js";
import type { Release } from "./releases.js";

// A release held at its gates (awaiting_approval, frozen) has stopped for people or a freeze: --wait ends there too.
const RELEASE_ENDED: Release["status"][] = ["live", "failed", "rolled_back", "retired", "rejected", "awaiting_approval", "frozen"];
const because = (reason?: string) => (reason ? `: ${reason}` : "");

/**
 * `hoist deploy <app> [ref]`: the API resolves the ref on the app's repository with the app's own
 * deploy key (a ref it cannot find is HTTP 422 with git's reason). `--wait` prints each stage as
 * it happens, through to the release going live, and exits 1 when the build or release failed.
 */
export async function deployCommand(ctx: CommandContext): Promise<void> {
  const { args, opts, out, client } = ctx;
  const [app, given] = args;
  if (!app || args.length > 2) throw new UsageError("hoist deploy <app> [ref] [--sha <commit>] [--no-cache] [--wait] [--timeout <s>]");
  if (opts.sha && !/^[0-9a-f]{40}$/.test(opts.sha)) throw new UsageError("--sha takes a full 40-character commit id");
  const timeoutS = Number(opts.timeout ?? 1800);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError("--timeout takes a number of seconds");
  const ref = given ?? (await defaultRef(ctx, app));
  const build = await client().post<Build>(`/v1/apps/${encodeURIComponent(app)}/builds`, {
    ref,
    ...(opts.sha ? { sha: opts.sha } : {}),
    ...(opts["no-cache"] ? { noCache: true } : {}),
  });
  const what = `build #${build.number} of ${app} (${build.ref} at ${build.sha.slice(0, 8)}${opts["no-cache"] ? ", no cache" : ""})`;
  if (!opts.wait) {
    out.data({ build }, () => `queued ${what}: ${build.id}`);
    return;
  }
  out.err(`${what} queued`);
  const deadline = Date.now() + timeoutS * 1000;
  const finished = await watchBuild(ctx, build, deadline);
  if (finished.status !== "succeeded" || !finished.releaseId) {
    const status = buildEnded(finished)
      ? `build #${finished.number} ${finished.status}${because(finished.reason)}`
      : `build #${finished.number} still ${finished.status}; gave up after --timeout ${timeoutS} s`;
    if (!buildEnded(finished)) out.err(status);
    if (out.json) out.data({ build: finished }, () => status);
    throw new PipelineFailed(`deploy of ${app} failed`);
  }
  const release = await watchRelease(ctx, finished.releaseId, deadline);
  if (release?.status === "awaiting_approval" || release?.status === "frozen") {
    // Held at its environment's gates: not a failure; people (hoist approve) or the freeze's end move it on.
    const status = `release #${release.number} ${release.status === "frozen" ? "is frozen" : "awaits approval"}${because(release.reason)}`;
    out.data({ build: finished, release }, () => status);
    return;
  }
  if (release?.status !== "live") {
    const status = release ? `release #${release.number} ${release.status}${because(release.reason)}` : "the release did not start";
    if (!release || !RELEASE_ENDED.includes(release.status)) out.err(`${status}; gave up after --timeout ${timeoutS} s`);
    if (out.json) out.data({ build: finished, release }, () => status);
    throw new PipelineFailed(`deploy of ${app} failed`);
  }
  out.data(
    { build: finished, release },
    () => `${app} is live: release #${release.number} (build #${finished.number}, ${finished.sha.slice(0, 8)})`,
  );
}

/** The app's branch, unless it is a pattern (release/*): then the ref must be named. */
async function defaultRef(ctx: CommandContext, app: string): Promise<string> {
  const { app: record } = await ctx.client().get<{ app: { branch: string } }>(`/v1/apps/${encodeURIComponent(app)}`);
  if (/[*?[]/.test(record.branch)) {
    throw new UsageError(`${app} builds the branches ${record.branch}: name one, e.g. hoist deploy ${app} <branch>`);
  }
  return record.branch;
}

/**
 * Follows the build's log stream and prints its stages (running, then each step) as they come;
 * resolves with the build's final record. The stream ends when the build does.
 */
async function watchBuild(ctx: CommandContext, build: Build, deadline: number): Promise<Build> {
  const { out, client } = ctx;
  const path = `/v1/builds/${encodeURIComponent(build.id)}`;
  let running = false;
  let step: string | undefined;
  const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
  await client()
    .stream(
      `${path}/logs?follow=1`,
      (event, data) => {
        if (event !== "line") return;
        if (!running) {
          running = true;
          out.err(`build #${build.number} running`);
        }
        let entry: { step?: string } = {};
        try {
          entry = JSON.parse(data) as { step?: string };
        } catch {
          // A line without a step: nothing to name.
        }
        // "start" and "release" are the build's own bookends: the stages around them say it.
        if (entry.step && entry.step !== step && entry.step !== "start" && entry.step !== "release") {
          step = entry.step;
          out.err(`  ${step}`);
        }
      },
      signal,
    )
    .catch((err: unknown) => {
      if (!signal.aborted) throw err;
    });
  const final = await client().get<Build>(path);
  if (buildEnded(final)) out.err(`build #${final.number} ${final.status}${because(final.reason)}`);
  return final;
}

/** Polls the release (the API has no release event stream) and prints each status it reaches. */
export async function watchRelease(ctx: CommandContext, id: string, deadline: number): Promise<Release | undefined> {
  const { out, client } = ctx;
  let release: Release | undefined;
  let last = "";
  while (Date.now() < deadline) {
    release = await client().get<Release>(`/v1/releases/${encodeURIComponent(id)}`);
    if (release.status !== last) {
      last = release.status;
      const word = release.status === "pending" ? "created" : release.status;
      out.err(`release #${release.number} ${word}${release.status === "failed" ? because(release.reason) : ""}`);
    }
    if (RELEASE_ENDED.includes(release.status)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return release;
}
