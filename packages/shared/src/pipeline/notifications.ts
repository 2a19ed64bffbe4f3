import type { NotifyDestination, NotifyEvent } from "../queues/notify.js";
import type { JobQueues } from "../queues/producer.js";
import type { App } from "../records/schemas.js";

export const notifyDestinations: readonly NotifyDestination[] = ["slack", "gitlab-status", "webhook"];

/** The events Slack is told about; the others (pending, running, ...) would only be noise in a channel. */
export const slackEvents: ReadonlySet<NotifyEvent> = new Set<NotifyEvent>([
  "build.failed",
  "build.canceled",
  "release.live",
  "release.failed",
  "release.rolled_back",
]);

/**
 * The destinations an event goes to. With the app at hand, destinations it has not configured
 * are left out at the source (GitLab statuses need a GitLab link, outgoing webhooks a URL); the
 * notifier still checks, since settings can change while a job waits.
 */
export function destinationsFor(event: NotifyEvent, app?: Pick<App, "gitlab" | "outgoingWebhook">): NotifyDestination[] {
  return notifyDestinations.filter((kind) => {
    if (kind === "slack") return slackEvents.has(event);
    if (!app) return true;
    return kind === "gitlab-status" ? app.gitlab !== undefined : app.outgoingWebhook !== undefined;
  });
}

/**
 * Enqueues one notify job per destination for an event, in one round trip. A job per destination
 * keeps one outage from holding back the others.
 */
export async function enqueueNotifications(
  queues: JobQueues,
  event: NotifyEvent,
  ids: { buildId: string; releaseId?: string },
  app?: Pick<App, "gitlab" | "outgoingWebhook"> & { name?: string },
): Promise<void> {
  const kinds = destinationsFor(event, app);
  if (kinds.length === 0) return;
  await queues.enqueueMany(
    "notify",
    kinds.map((kind) => ({
      kind,
      event,
      buildId: ids.buildId,
      ...(ids.releaseId ? { releaseId: ids.releaseId } : {}),
      ...(app?.name ? { app: app.name } : {}),
    })),
  );
}
