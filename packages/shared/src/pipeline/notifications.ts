import type { NotifyDestination, NotifyEvent } from "../queues/notify.js";
import type { App } from "../records/schemas.js";

/** The events Slack is told about; the others (pending, running, ...) would only be noise in a channel. */
const slackOnly: readonly NotifyEvent[] = [
  "build.failed",
  "build.canceled",
  "release.live",
  "release.failed",
  "release.rolled_back",
  // Approvals and freezes: people act on them (Approve / Reject buttons), or should know a deploy waits.
  "release.awaiting_approval",
  "release.approved",
  "release.rejected",
  "release.frozen",
];

/**
 * Which destination gets which event, as data: the TypeScript below and the transition scripts
 * (records/lifecycle/lua.ts) both follow it. A destination with `events` is told only those; one
 * with `appField` only when the app has that setting (or the app is not at hand: the notifier
 * checks again, since settings can change while a job waits).
 */
export const destinationRules: readonly (
  | { kind: NotifyDestination; events: readonly NotifyEvent[] }
  | { kind: NotifyDestination; appField: "gitlab" | "outgoingWebhook" }
)[] = [
  { kind: "slack", events: slackOnly },
  { kind: "gitlab-status", appField: "gitlab" },
  { kind: "webhook", appField: "outgoingWebhook" },
];

/** The destinations an event goes to; with the app at hand, those it has not configured are left out. */
export function destinationsFor(event: NotifyEvent, app?: Pick<App, "gitlab" | "outgoingWebhook">): NotifyDestination[] {
  return destinationRules
    .filter((rule) => {
      if ("events" in rule) return rule.events.includes(event);
      return !app || app[rule.appField] !== undefined;
    })
    .map((r) => r.kind);
}

/** The Block Kit action ids of the Approve / Reject buttons on a release.awaiting_approval message; each button's value is the release id. */
export const slackActions = { approve: "hoist.release.approve", reject: "hoist.release.reject" } as const;
