import { type HandlerMap, type JobContext, type NotifyPayload, notificationsTotal } from "@hoist/shared";
import type { NotifierDeps } from "./deps.js";
import { settleFailure } from "./failures.js";
import { gitlabMrJob } from "./gitlab-mr-job.js";
import { gitlabStatusJob } from "./gitlab-status-job.js";
import { slackJob } from "./slack-job.js";
import { webhookJob } from "./webhook-job.js";

type Destination<P> = (deps: NotifierDeps, payload: P, jc: JobContext) => Promise<string>;

/** Runs one destination's job; its return value ("sent", "skipped: …") is kept by BullMQ. */
function run<P extends NotifyPayload>(deps: NotifierDeps, destination: Destination<P>) {
  return async (payload: P, jc: JobContext): Promise<string> => {
    try {
      const result = await destination(deps, payload, jc);
      notificationsTotal.inc({ destination: payload.kind, outcome: result.startsWith("skipped") ? "skipped" : "sent" });
      return result;
    } catch (err) {
      // Counted per failed attempt (a retry that then succeeds is also counted as sent).
      notificationsTotal.inc({ destination: payload.kind, outcome: "failed" });
      return settleFailure(err, jc);
    }
  };
}

/** One handler per destination, each its own job so one destination's outage holds back no other. */
export function handlers(deps: NotifierDeps): HandlerMap<"notify"> {
  return {
    slack: run(deps, (d, p, jc) => slackJob(d, p, jc.log)),
    "gitlab-status": run(deps, (d, p, jc) => gitlabStatusJob(d, p, jc.log)),
    webhook: run(deps, (d, p, jc) => webhookJob(d, p, jc.log)),
    // A preview's notice: its note's state dates from when it was queued, the same on every retry.
    "gitlab-mr": run(deps, (d, p, jc) => gitlabMrJob(d, p, jc.log, new Date(jc.job.timestamp))),
  };
}
