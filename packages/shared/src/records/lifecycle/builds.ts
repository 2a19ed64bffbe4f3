import type { JobQueues } from "../../queues/producer.js";
import type { Records } from "../repos.js";
import type { Build, BuildStatus } from "../schemas.js";
import type { TransitionResult } from "./move.js";
import { NotifyOutbox } from "./outbox.js";

const nowIso = () => new Date().toISOString();

/**
 * The build lifecycle: queued → running → succeeded | failed, or canceled. Each transition is one
 * script that checks the table (table.ts) and writes the notify jobs of the new status; they are
 * sent at once, or by the outbox drainer should this process die first.
 */
export class BuildLifecycle {
  readonly outbox: NotifyOutbox;

  constructor(
    private readonly records: Records,
    queues: JobQueues,
  ) {
    this.outbox = new NotifyOutbox(records.redis, records.keys, queues);
  }

  /** queued → running (build.running). */
  start(id: string): Promise<TransitionResult<Build>> {
    return this.move(id, ["queued"], { status: "running", startedAt: nowIso() });
  }

  /** running → succeeded with its releases (one per auto environment) and images (build.succeeded, naming the first release). */
  succeed(
    id: string,
    done: { releaseId?: string; releases?: NonNullable<Build["releases"]>; images: NonNullable<Build["images"]> },
  ): Promise<TransitionResult<Build>> {
    return this.move(id, ["running"], { status: "succeeded", finishedAt: nowIso(), ...done });
  }

  /** running (or, for a job that died before starting, queued) → failed (build.failed). */
  fail(id: string, reason: string, opts: { logTail?: string[]; from?: BuildStatus[] } = {}): Promise<TransitionResult<Build>> {
    return this.move(id, opts.from ?? ["running"], {
      status: "failed",
      reason,
      ...(opts.logTail ? { logTail: opts.logTail } : {}),
      finishedAt: nowIso(),
    });
  }

  /** queued or running → canceled (build.canceled), by a user or a newer push. */
  cancel(id: string, canceledBy: "user" | "superseded", from: BuildStatus[] = ["queued", "running"]): Promise<TransitionResult<Build>> {
    return this.move(id, from, {
      status: "canceled",
      reason: canceledBy === "user" ? "canceled by user" : "superseded",
      canceledBy,
      finishedAt: nowIso(),
    });
  }

  private async move(id: string, from: BuildStatus[], fields: Partial<Build> & { status: BuildStatus }): Promise<TransitionResult<Build>> {
    const res = await this.records.builds.transition(id, from, fields);
    if (res.ok) await this.outbox.send(res.outbox);
    return res;
  }
}
