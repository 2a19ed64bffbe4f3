import type { Build, Release } from "@hoist/shared";
import { buildUrl, environmentOf, type NotifyContext, refName } from "./context.js";

type CommitState = "pending" | "running" | "success" | "failed" | "canceled";
const BUILD_STATUS_NAME = "hoist/build";
/** One deploy status per environment: `hoist/deploy:staging`, `hoist/deploy:production`. */
const deployStatusName = (env: string) => `hoist/deploy:${env}` as const;

export interface CommitStatusUpdate {
  name: typeof BUILD_STATUS_NAME | ReturnType<typeof deployStatusName>;
  state: CommitState;
  sha: string;
  ref: string;
  targetUrl: string;
  description: string;
}

/** GitLab keeps at most 255 characters of a description. */
const DESCRIPTION_LIMIT = 255;

function describe(s: string): string {
  const line = s.replace(/\s+/g, " ").trim();
  return line.length > DESCRIPTION_LIMIT ? `${line.slice(0, DESCRIPTION_LIMIT - 1)}…` : line;
}

/** Progress of a state: a status never moves to a lower rank (pending < running < finished). */
const stateRank: Record<CommitState, number> = { pending: 0, running: 1, success: 2, failed: 2, canceled: 2 };
const FINISHED = 2;

const buildRank: Record<Build["status"], number> = { queued: 0, running: 1, succeeded: 2, failed: 2, canceled: 2 };
/** `pending` release (or held at its gates): not deploying yet; `retired` is after live, so `success` still stands. */
const releaseRank: Record<Release["status"], number> = {
  pending: 0,
  awaiting_approval: 0,
  frozen: 0,
  deploying: 1,
  live: 2,
  retired: 2,
  failed: 2,
  rolled_back: 2,
  rejected: 2,
};

/**
 * The commit statuses an event sets, in order. `build.succeeded` also opens `hoist/deploy` as
 * `pending`: the deploy is queued from that moment, and the commit page shows it waiting rather
 * than nothing. (A build that is never deployed leaves that `pending` behind, which is true.)
 * `build.running` sets `pending` before `running`: the `build.pending` job may run after it (a
 * busy or restarted notifier) or not at all, and the commit must still show the build queued
 * then running. When `pending` already landed, GitLab refuses the repeat and it counts as done.
 */
export function commitStatusesFor(ctx: NotifyContext): CommitStatusUpdate[] {
  const { build, release, event } = ctx;
  const base = { sha: build.sha, ref: refName(build.ref), targetUrl: buildUrl(ctx) };
  const b = (state: CommitState, description: string): CommitStatusUpdate => ({
    ...base,
    name: BUILD_STATUS_NAME,
    state,
    description: describe(description),
  });
  const d = (state: CommitState, description: string): CommitStatusUpdate => ({
    ...base,
    name: deployStatusName(release ? environmentOf(release) : "production"),
    state,
    description: describe(description),
  });
  const n = build.number;
  const r = release ? `release #${release.number}` : "release";
  switch (event) {
    case "build.pending":
      return [b("pending", `Build #${n} queued`)];
    case "build.running":
      return [b("pending", `Build #${n} queued`), b("running", `Building #${n}`)];
    case "build.succeeded":
      // Which environments deploy it is the releases' to say: each sets its own hoist/deploy:<env>.
      return [b("success", `Build #${n} succeeded`)];
    case "build.failed":
      return [b("failed", `Build #${n} failed${build.reason ? `: ${build.reason}` : ""}`)];
    case "build.canceled":
      return [b("canceled", `Build #${n} ${build.canceledBy === "superseded" ? "superseded by a newer push" : "canceled"}`)];
    case "release.deploying":
      return [d("running", `Deploying ${r}`)];
    case "release.live":
      return [d("success", `${capital(r)} is live`)];
    case "release.failed":
      return [d("failed", `${capital(r)} failed${release?.reason ? `: ${release.reason}` : ""}`)];
    case "release.rolled_back":
      return [d("failed", `${capital(r)} rolled back${release?.reason ? `: ${release.reason}` : ""}`)];
    case "release.awaiting_approval":
      return [d("pending", `${capital(r)} awaits approval (${release?.approvals?.length ?? 0} of ${release?.requiredApprovals ?? 0})`)];
    case "release.approved":
      return [d("pending", `${capital(r)} approved; deploying when no freeze holds it`)];
    case "release.frozen":
      return [d("pending", `${capital(r)} frozen until ${release?.frozenUntil ?? "the freeze ends"}`)];
    case "release.rejected":
      return [d("canceled", `${capital(r)} rejected by ${release?.rejection?.name ?? "someone"}: ${release?.rejection?.reason ?? ""}`)];
  }
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Whether an update is older news than the records in a way GitLab would not refuse: after a
 * status finished, GitLab answers any update with a new status (Ci::CreateCommitStatusService
 * only updates a pending or running one), so a `pending` or `running` handled after the build or
 * release finished would move the commit backwards: it is not sent. Between pending and running
 * GitLab's state machine refuses the backward step itself (400, counted as done), so those are
 * sent: a late `pending` still lands first when `running` has not been set yet.
 */
export function isStale(update: CommitStatusUpdate, ctx: Pick<NotifyContext, "build" | "release">): boolean {
  const current =
    update.name === BUILD_STATUS_NAME ? buildRank[ctx.build.status] : ctx.release ? releaseRank[ctx.release.status] : undefined;
  return current === FINISHED && stateRank[update.state] < FINISHED;
}

/** GitLab's answer to a transition its state machine refuses, e.g. a second `running`. */
export function isRefusedTransition(status: number, message: string): boolean {
  return status === 400 && /^Cannot transition status via :\w+ from :\w+/.test(message);
}
