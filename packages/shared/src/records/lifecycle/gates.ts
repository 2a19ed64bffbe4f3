import type { JobQueues } from "../../queues/producer.js";
import { encodeFields } from "../codec.js";
import type { Records } from "../repos.js";
import type { Approval, Release } from "../schemas.js";
import { gateScripts } from "./lua-gates.js";
import type { TransitionResult } from "./move.js";
import { NotifyOutbox } from "./outbox.js";
import { scriptContext } from "./scripts.js";
import { assertMove } from "./table.js";

type HoldResult =
  | { kind: "held"; status: "awaiting_approval" | "frozen"; superseded: string[] }
  | { kind: "state"; status: Release["status"] }
  | { kind: "missing" };

type ApproveResult =
  | { kind: "approved"; added: boolean; count: number }
  | { kind: "state"; status: Release["status"] }
  | { kind: "missing" };

/** Who acted on a release and how (an approval, a rejection): the person's id, their name, the way in. */
export type Actor = Pick<Approval, "by" | "name" | "via">;

const nowIso = () => new Date().toISOString();

/**
 * A release's gates before it deploys: held for approvals (`awaiting_approval`) or a freeze
 * (`frozen`), approved by people (each counted once), rejected, or let through a freeze by an
 * operator (deploy-now). Each change is one script that checks the transition table and writes
 * its notify events with it (release.awaiting_approval, .approved, .rejected, .frozen).
 */
export class ReleaseGates {
  readonly outbox: NotifyOutbox;

  constructor(
    private readonly records: Records,
    queues: JobQueues,
  ) {
    this.outbox = new NotifyOutbox(records.redis, records.keys, queues);
  }

  /** Holds a release for approvals (`requiredApprovals`) or a freeze (`frozenUntil`, `freeze`). */
  async hold(
    release: Pick<Release, "id" | "app">,
    to: "awaiting_approval" | "frozen",
    fields: Partial<Pick<Release, "requiredApprovals" | "frozenUntil" | "freeze">>,
  ): Promise<HoldResult> {
    assertMove("release", ["pending"], to);
    const keys = this.records.keys;
    const [code, cur, outbox = [], superseded = []] = await gateScripts(this.records.redis).hold(
      [keys.release(release.id), keys.appReleases(release.app), keys.notifyOutbox],
      scriptContext(keys),
      JSON.stringify({ id: release.id, to, set: encodeFields(fields), prefix: keys.release(""), now: JSON.stringify(nowIso()) }),
    );
    if (code === -1) return { kind: "missing" };
    if (code === 0) return { kind: "state", status: JSON.parse(cur) as Release["status"] };
    await this.outbox.send(outbox);
    for (const id of superseded) await this.records.releases.expireFailed(id);
    return { kind: "held", status: to, superseded };
  }

  /** Adds a person's approval (a second one by the same person changes nothing). */
  async approve(id: string, actor: Actor): Promise<ApproveResult> {
    const keys = this.records.keys;
    const approval: Approval = { ...actor, at: nowIso() };
    const [code, val, outbox = []] = await gateScripts(this.records.redis).approve(
      [keys.release(id), keys.notifyOutbox],
      scriptContext(keys),
      JSON.stringify({ id, approval }),
    );
    if (code === -1) return { kind: "missing" };
    if (code === 0) return { kind: "state", status: JSON.parse(val) as Release["status"] };
    await this.outbox.send(outbox);
    return { kind: "approved", added: code === 1, count: Number(val) };
  }

  /** Ends a release awaiting approval (or frozen) as `rejected`, with who and why (release.rejected). */
  async reject(id: string, actor: Actor, reason: string): Promise<TransitionResult<Release>> {
    const at = nowIso();
    const res = await this.records.releases.transition(id, ["awaiting_approval", "frozen"], {
      status: "rejected",
      rejection: { ...actor, reason, at },
      reason: `rejected by ${actor.name}: ${reason}`,
      finishedAt: at,
    });
    if (res.ok) await this.outbox.send(res.outbox);
    return res;
  }

  /** Records an operator's deploy-now on a frozen release; its deploy then passes the freeze. */
  async override(id: string, by: Pick<Actor, "by" | "name">, reason: string): Promise<HoldResult | { kind: "overridden" }> {
    const [code, cur] = await gateScripts(this.records.redis).amend(
      [this.records.keys.release(id)],
      scriptContext(this.records.keys),
      JSON.stringify({ from: ["frozen"], set: encodeFields({ override: { ...by, reason, at: nowIso() } }) }),
    );
    if (code === -1) return { kind: "missing" };
    if (code === 0) return { kind: "state", status: JSON.parse(cur) as Release["status"] };
    return { kind: "overridden" };
  }
}
