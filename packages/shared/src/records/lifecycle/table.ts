import type { NotifyEvent } from "../../queues/notify.js";
import type { BuildStatus, ReleaseStatus } from "../schemas.js";

/**
 * Every allowed status change, written once: the TypeScript checks (assertMove) and the Lua
 * scripts (lua.ts serialises this table into them) both follow it. A status absent from a list
 * cannot be reached from that status, whatever a caller asks for.
 */
export const transitions = {
  build: {
    queued: ["running", "failed", "canceled"],
    running: ["succeeded", "failed", "canceled"],
    succeeded: [],
    failed: [],
    canceled: [],
  } satisfies Record<BuildStatus, readonly BuildStatus[]>,
  release: {
    // The deployer's gate holds a release for approvals or a freeze before it deploys.
    pending: ["deploying", "failed", "awaiting_approval", "frozen"],
    // Approved (and no freeze open): deploys; approved into a freeze: frozen. Failed: superseded
    // by a newer release awaiting approval, or its job gave up.
    awaiting_approval: ["deploying", "frozen", "rejected", "failed"],
    // frozen → frozen: a freeze that ends where another begins holds it on (frozenUntil moves);
    // → awaiting_approval: its environment asks for approvals since it froze.
    frozen: ["deploying", "frozen", "awaiting_approval", "rejected", "failed"],
    // deploying → deploying: an attempt that crashed mid-deploy is begun again (targets converge).
    deploying: ["deploying", "live", "failed"],
    live: ["retired", "rolled_back"],
    // Promoting a release that is no longer live queues it again.
    retired: ["pending"],
    rolled_back: ["pending"],
    failed: ["pending"],
    rejected: ["pending"],
  } satisfies Record<ReleaseStatus, readonly ReleaseStatus[]>,
} as const;

/** The notify event a record emits on entering a status (none: nobody is told). */
export const statusEvents = {
  build: {
    queued: "build.pending",
    running: "build.running",
    succeeded: "build.succeeded",
    failed: "build.failed",
    canceled: "build.canceled",
  } satisfies Record<BuildStatus, NotifyEvent>,
  release: {
    deploying: "release.deploying",
    live: "release.live",
    failed: "release.failed",
    rolled_back: "release.rolled_back",
    awaiting_approval: "release.awaiting_approval",
    frozen: "release.frozen",
    rejected: "release.rejected",
  } satisfies Partial<Record<ReleaseStatus, NotifyEvent>>,
} as const;

export type RecordKind = keyof typeof transitions;
export type StatusOf<K extends RecordKind> = K extends "build" ? BuildStatus : ReleaseStatus;

export class IllegalTransitionError extends Error {
  override name = "IllegalTransitionError";
}

export function canMove<K extends RecordKind>(kind: K, from: StatusOf<K>, to: StatusOf<K>): boolean {
  const next = (transitions[kind] as Record<string, readonly string[]>)[from];
  return next?.includes(to) ?? false;
}

/** Throws when the table allows no move from one of `from` to `to`: a caller asking for one is a bug. */
export function assertMove<K extends RecordKind>(kind: K, from: readonly StatusOf<K>[], to: StatusOf<K>): void {
  const bad = from.filter((f) => !canMove(kind, f, to));
  if (bad.length) throw new IllegalTransitionError(`a ${kind} cannot move from ${bad.join(", ")} to ${to}`);
}
