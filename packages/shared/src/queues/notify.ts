import { z } from "zod";
import { environmentNameSchema } from "../environments/names.js";
import { appNameSchema } from "../records/schemas.js";
import { defineQueue, idSchema, retention, traceContextSchema } from "./define.js";

export const notifyEvents = [
  "build.pending",
  "build.running",
  "build.succeeded",
  "build.failed",
  "build.canceled",
  "release.deploying",
  "release.live",
  "release.failed",
  "release.rolled_back",
  "release.awaiting_approval",
  "release.approved",
  "release.rejected",
  "release.frozen",
] as const;
export type NotifyEvent = (typeof notifyEvents)[number];

const common = {
  event: z.enum(notifyEvents),
  buildId: idSchema,
  releaseId: idSchema.optional(),
  /** The app's name (its id), so the notifier reads build, release and app in one round trip. */
  app: appNameSchema.optional(),
  /** The release's environment (every payload about a release has it; production for one stored before environments). */
  environment: environmentNameSchema.optional(),
  trace: traceContextSchema.optional(),
};

/** Notices about a merge request's preview that no release event carries (the deployer's previews worker sends them). */
const previewNoticeEvents = ["preview.refused", "preview.stopped"] as const;

/** The notice on merge request `!iid` of `app`; `id` tells notices apart (a delivery id, a sweep's run). */
const gitlabMrSchema = z
  .object({
    kind: z.literal("gitlab-mr"),
    event: z.enum(previewNoticeEvents),
    app: appNameSchema,
    iid: z.number().int().positive("iid is a merge request's number (1 or more)"),
    /** Why, for people: shown on the MR as written (never a secret). */
    reason: z.string().min(1, "reason is required").max(1000, "reason is at most 1000 characters"),
    id: idSchema,
    trace: traceContextSchema.optional(),
  })
  .strict();

/** One job per destination, so a Slack outage never holds back GitLab statuses. */
const notifyPayloadSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("slack"), ...common }).strict(),
  z.object({ kind: z.literal("gitlab-status"), ...common }).strict(),
  z.object({ kind: z.literal("webhook"), ...common }).strict(),
  gitlabMrSchema,
]);

export type NotifyPayload = z.infer<typeof notifyPayloadSchema>;
/** A job about a build's or release's event (every kind but `gitlab-mr`). */
export type EventNotifyPayload = Exclude<NotifyPayload, { kind: "gitlab-mr" }>;
export type GitlabMrNotice = Extract<NotifyPayload, { kind: "gitlab-mr" }>;
/** The destinations a build's or release's event goes to (pipeline/notifications.ts). */
export type NotifyDestination = EventNotifyPayload["kind"];

export const notifyQueue = defineQueue({
  name: "notify",
  schema: notifyPayloadSchema,
  jobId: (p) =>
    p.kind === "gitlab-mr" ? `${p.kind}.${p.event}.${p.app}.${p.iid}.${p.id}` : `${p.kind}.${p.event}.${p.releaseId ?? p.buildId}`,
  jobOptions: {
    // Rides out a few minutes of destination outage: 2s, 4s, ... up to ~4 min between tries.
    attempts: 8,
    backoff: { type: "exponential", delay: 2_000, jitter: 0.5 },
    ...retention,
  },
});
