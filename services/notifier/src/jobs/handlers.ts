import { type HandlerMap, type JobContext, type NotifyPayload, notificationsTotal } from "@hoist/shared";
import type { NotifierDeps } from "./deps.js";
import { settleFailure } from "./failures.js";
import { gitlabStatusJob } from "./gitlab-status-job.js";
import { slackJob } from "./slack-job.js";
import { webhookJob } from "./webhook-job.js";

type Destination = (deps: NotifierDeps, payload: NotifyPayload, log: JobContext["log"]) => Promise<string>;

/** Runs one destination's job; its return value ("sent", "skipped: …") is kept by BullMQ. */
function run(deps: NotifierDeps, destination: Destination) {
  return async (payload: NotifyPayload, jc: JobContext): Promise<string> => {
    try {
      const result = await destination(deps, payload, jc.log);
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
    slack: run(deps, slackJob),
    "gitlab-status": run(deps, gitlabStatusJob),
    webhook: run(deps, webhookJob),
  };
}
