import { deployUnit } from "../../environments/names.js";
import type { JobQueues } from "../../queues/producer.js";
import type { Records } from "../repos.js";
import type { Release, ReleaseStatus } from "../schemas.js";
import type { TransitionResult } from "./move.js";
import { LockLostError } from "./move.js";
import { NotifyOutbox } from "./outbox.js";
import { lifecycleScripts, scriptContext } from "./scripts.js";

export type BeginResult =
  | { kind: "deploying" }
  | { kind: "finished"; status: Release["status"] }
  | { kind: "superseded"; by: string }
  | { kind: "missing" };

/** What fences a deploy's writes: the deploy unit's lock key and the token it was taken with. */
type LockToken = { key: string; token: string };

const nowJson = () => JSON.stringify(new Date().toISOString());

/**
 * The release lifecycle: pending → deploying → live → retired | rolled_back, or failed. Each
 * transition is one script, fenced by the lock token of the release's deploy unit (its app's
 * environment: a newer release supersedes only within it, and it has its own live release), that writes its notify jobs with it
 * (sent at once, or by the outbox drainer should this process die first).
 */
export class ReleaseLifecycle {
  readonly outbox: NotifyOutbox;

  constructor(
    private readonly records: Records,
    queues: JobQueues,
  ) {
    this.outbox = new NotifyOutbox(records.redis, records.keys, queues);
  }

  /** Starts (or resumes, after a crash) a deploy; a release a newer one supersedes is failed instead. */
  async begin(release: Release, lock: LockToken): Promise<BeginResult> {
    const keys = this.records.keys;
    const [code, val, outbox] = await lifecycleScripts(this.records.redis).begin(
      [lock.key, keys.release(release.id), keys.environmentReleases(release.app, release.environment), keys.notifyOutbox],
      scriptContext(keys, lock.token),
      nowJson(),
      String(release.number),
      keys.release(""),
      release.id,
    );
    if (code === -2) throw new LockLostError(`lost the deploy lock of app ${release.app} before release ${release.id} started`);
    if (code === -1) return { kind: "missing" };
    if (code === 0) return { kind: "finished", status: JSON.parse(val) as Release["status"] };
    await this.outbox.send(outbox);
    if (code === 2) {
      await this.records.releases.expireFailed(release.id);
      return { kind: "superseded", by: val };
    }
    return { kind: "deploying" };
  }

  /** Makes a deploying release live and retires (or rolls back) the one it replaces; their records' retention follows in the same script. */
  async goLive(release: Release, lock: LockToken): Promise<{ replaced?: string; rolledBack: boolean }> {
    const keys = this.records.keys;
    const [code, val, outbox] = await lifecycleScripts(this.records.redis).goLive(
      [lock.key, keys.release(release.id), keys.liveRelease(deployUnit(release.app, release.environment)), keys.notifyOutbox],
      scriptContext(keys, lock.token),
      nowJson(),
      keys.release(""),
      release.rollbackOf ?? "",
      release.id,
      keys.build(""),
      String(this.records.retention.ttlMs),
      keys.appEnvironments(release.app),
      keys.liveRelease(""),
    );
    if (code === -2) throw new LockLostError(`lost the deploy lock of app ${release.app} before release ${release.id} went live`);
    if (code === 0) throw new Error(`release ${release.id} is ${val || "missing"}, not deploying; it cannot go live`);
    await this.outbox.send(outbox);
    return val ? { replaced: val, rolledBack: val === release.rollbackOf } : { rolledBack: false };
  }

  /**
   * Fails a release not finished yet (pending, held at its gates, deploying); false when it had already finished. Without a lock,
   * only for giving up on a dead job (or one never queued), which no deploy holds.
   */
  async fail(release: Pick<Release, "id" | "app">, reason: string, lock: LockToken | undefined): Promise<boolean> {
    const res = await this.move(
      release,
      ["pending", "awaiting_approval", "frozen", "deploying"],
      { status: "failed", reason, finishedAt: new Date().toISOString() },
      lock,
    );
    return res.ok;
  }

  private async move(
    release: Pick<Release, "id" | "app">,
    from: ReleaseStatus[],
    fields: Partial<Release> & { status: ReleaseStatus },
    lock?: LockToken,
  ): Promise<TransitionResult<Release>> {
    const res = await this.records.releases.transition(release.id, from, fields, lock);
    if (res.ok) await this.outbox.send(res.outbox);
    return res;
  }
}
