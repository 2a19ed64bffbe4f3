import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { PipelineFailed, UsageError } from "../errors.js";
import { type Build, followBuild } from "./builds.js";
import type { CommandContext } from "./context.js";
import type { Release } from "./releases.js";

const run = promisify(execFile);

/** Resolves a branch or tag to its commit on the app's repository, with the user's own git access. */
async function resolveRef(sshUrl: string, ref: string): Promise<{ ref: string; sha: string }> {
  if (/^[0-9a-f]{40}$/.test(ref)) throw new UsageError("give a branch or tag as <ref>, and the commit with --sha");
  const { stdout } = await run("git", ["ls-remote", sshUrl, ref, `refs/heads/${ref}`, `refs/tags/${ref}`], { timeout: 30_000 }).catch(
    (err: unknown) => {
      throw new UsageError(
        `could not resolve ${ref} on ${sshUrl} with git ls-remote (${(err as Error).message.split("\n")[0]}); pass --sha`,
      );
    },
  );
  const lines = stdout.trim().split("\n").filter(Boolean);
  const pick = lines.find((l) => l.endsWith(`refs/heads/${ref}`)) ?? lines.find((l) => l.endsWith(`refs/tags/${ref}^{}`)) ?? lines[0];
  const [sha, fullRef] = pick?.split("\t") ?? [];
  if (!sha || !fullRef) throw new UsageError(`${ref} not found on ${sshUrl}`);
  return { ref: fullRef.replace(/\^\{\}$/, ""), sha };
}

const TERMINAL: Release["status"][] = ["live", "failed", "rolled_back", "retired"];

export async function deployCommand(ctx: CommandContext): Promise<void> {
  const { args, opts, out, client } = ctx;
  const [app, ref] = args;
  if (!app || !ref) throw new UsageError("hoist deploy <app> <ref> [--sha <commit>] [--wait]");
  let target: { ref: string; sha: string };
  if (opts.sha) {
    if (!/^[0-9a-f]{40}$/.test(opts.sha)) throw new UsageError("--sha takes a full 40-character commit id");
    target = { ref: ref.startsWith("refs/") ? ref : `refs/heads/${ref}`, sha: opts.sha };
  } else {
    const { app: record } = await client().get<{ app: { repo: { sshUrl: string } } }>(`/v1/apps/${encodeURIComponent(app)}`);
    target = await resolveRef(record.repo.sshUrl, ref);
  }
  const build = await client().post<Build>(`/v1/apps/${encodeURIComponent(app)}/builds`, target);
  if (!opts.wait) {
    out.data({ build }, () => `queued build #${build.number} of ${app} at ${target.sha.slice(0, 8)} (${build.id})`);
    return;
  }
  out.err(`build #${build.number} of ${app} at ${target.sha.slice(0, 8)} queued`);
  const finished = await followBuild(ctx, build.id);
  if (finished.status !== "succeeded" || !finished.releaseId) {
    out.data({ build: finished }, () => `build #${finished.number} ${finished.status}${finished.reason ? `: ${finished.reason}` : ""}`);
    throw new PipelineFailed(`build ${finished.status}`);
  }
  out.err(`==> deploy (release ${finished.releaseId})`);
  const deadline = Date.now() + Number(opts.timeout ?? 1800) * 1000;
  let release: Release | undefined;
  let last = "";
  while (Date.now() < deadline) {
    release = await client().get<Release>(`/v1/releases/${encodeURIComponent(finished.releaseId)}`);
    if (release.status !== last) {
      out.err(`release #${release.number}: ${release.status}`);
      last = release.status;
    }
    if (TERMINAL.includes(release.status)) break;
    // The API has no release event stream yet; a 1 s poll is fine for a human-facing wait.
    await new Promise((r) => setTimeout(r, 1_000));
  }
  out.data({ build: finished, release }, () =>
    release?.status === "live"
      ? `release #${release.number} of ${app} is live`
      : `release ${release?.status ?? "unknown"}${release?.reason ? `: ${release.reason}` : ""}`,
  );
  if (release?.status !== "live") throw new PipelineFailed(`release ${release?.status ?? "did not finish in time"}`);
}
