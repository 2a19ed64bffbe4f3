import type { NotifyDestination, NotifyEvent } from "../queues/notify.js";
import type { JobQueues } from "../queues/producer.js";

export const notifyDestinations: readonly NotifyDestination[] = ["slack", "gitlab-status", "webhook"];

/**
 * Enqueues one notify job per destination for an event. The notifier skips destinations an app
 * has not configured; a job per destination keeps one outage from holding back the others.
 */
export async function enqueueNotifications(
  queues: JobQueues,
  event: NotifyEvent,
  ids: { buildId: string; releaseId?: string },
): Promise<void> {
  await Promise.all(
    notifyDestinations.map((kind) =>
      queues.enqueue("notify", { kind, event, buildId: ids.buildId, ...(ids.releaseId ? { releaseId: ids.releaseId } : {}) }),
    ),
  );
}
