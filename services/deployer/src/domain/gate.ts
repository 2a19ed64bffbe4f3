import { type App, type FreezeSpec, frozenUntil, type GitlabFreezePeriod, type Release } from "@hoist/shared";

/** What the environment asks of a release before it deploys (envs' environmentPolicy). */
export interface Policy {
  requiredApprovals: number;
  freezes: FreezeSpec[];
  /** Whether the GitLab project's deploy freeze periods hold it too (a GitLab-linked app). */
  gitlabFreezes: boolean;
}

/** The ports the gate runs through (Redis, GitLab and the clock stay behind them). */
export interface GatePorts {
  policy(release: Release): Promise<Policy>;
  /** The linked project's freeze periods (every page). */
  gitlabFreezes(app: App): Promise<GitlabFreezePeriod[]>;
  hold(
    release: Release,
    to: "awaiting_approval" | "frozen",
    fields: Partial<Pick<Release, "requiredApprovals" | "frozenUntil" | "freeze">>,
  ): Promise<{ kind: "held" | "state" | "missing"; status?: Release["status"] }>;
  /** The clock (tests inject one). */
  now(): number;
  step(releaseId: string, line: string): Promise<void>;
}

type GateOutcome =
  | { kind: "go" }
  | { kind: "awaiting_approval"; approvals: number; required: number }
  | { kind: "frozen"; until: number; freeze: string }
  /** The release moved past the gates meanwhile (rejected, superseded): nothing to do. */
  | { kind: "gone"; status: Release["status"] };

/**
 * The gates a release meets before it deploys, in order: approvals (fewer distinct people than
 * the environment asks for → `awaiting_approval`), then freezes (one open now → `frozen` until the
 * last open one ends; an operator's deploy-now, `override`, passes them). A release already
 * `deploying` (a retried attempt) passed them before. Policy is read fresh every time: a release
 * woken at the end of a freeze meets the environment as it is then.
 */
export async function gate(ports: GatePorts, release: Release, app: App): Promise<GateOutcome> {
  if (release.status === "deploying") return { kind: "go" };
  const policy = await ports.policy(release);
  const approvals = release.approvals?.length ?? 0;
  if (approvals < policy.requiredApprovals) {
    const held = await ports.hold(release, "awaiting_approval", { requiredApprovals: policy.requiredApprovals });
    if (held.kind === "held") {
      await ports.step(release.id, `awaiting approval: ${approvals} of ${policy.requiredApprovals} people approved`);
    } else if (held.status !== "awaiting_approval") {
      return { kind: "gone", status: held.status ?? "failed" };
    }
    return { kind: "awaiting_approval", approvals, required: policy.requiredApprovals };
  }
  if (release.override) return { kind: "go" };
  const gitlab = policy.gitlabFreezes && app.gitlab ? await ports.gitlabFreezes(app) : [];
  const frozen = frozenUntil(policy.freezes, gitlab, new Date(ports.now()));
  if (!frozen) return { kind: "go" };
  const until = frozen.until.toISOString();
  const held = await ports.hold(release, "frozen", { frozenUntil: until, freeze: frozen.window.what });
  if (held.kind === "held") await ports.step(release.id, `frozen until ${until}: ${frozen.window.what}`);
  else if (held.status !== "frozen") return { kind: "gone", status: held.status ?? "failed" };
  return { kind: "frozen", until: frozen.until.getTime(), freeze: frozen.window.what };
}
