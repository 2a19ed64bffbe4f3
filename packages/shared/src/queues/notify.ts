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

/** One job per destination, so a Slack outage never holds back GitLab statuses. */
const notifyPayloadSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("slack"), ...common }).strict(),
  z.object({ kind: z.literal("gitlab-status"), ...common }).strict(),
  z.object({ kind: z.literal("webhook"), ...common }).strict(),
]);

export type NotifyPayload = z.infer<typeof notifyPayloadSchema>;
export type NotifyDestination = NotifyPayload["kind"];

export const notifyQueue = defineQueue({
  name: "notify",
  schema: notifyPayloadSchema,
  jobId: (p) => `${p.kind}.${p.event}.${p.releaseId ?? p.buildId}`,
  jobOptions: {
    // Rides out a few minutes of destination outage: 2s, 4s, ... up to ~4 min between tries.
    attempts: 8,
    backoff: { type: "exponential", delay: 2_000, jitter: 0.5 },
    ...retention,
  },
});
