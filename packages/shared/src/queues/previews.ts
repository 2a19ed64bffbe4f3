import { z } from "zod";
import { appNameSchema } from "../records/schemas.js";
import { defineQueue, idSchema, retention, traceContextSchema } from "./define.js";

/** A merge request's number within its project (`!N`). */
const iidSchema = z.number({ error: "iid is a merge request's number" }).int("iid is a whole number").positive("iid is positive");

/** Why a preview is torn down: its MR closed or merged, a person deleted it, it idled past ttlHours, or the app's `max` pushed it out. */
const previewCloseReasons = ["closed", "merged", "deleted", "idle", "limit"] as const;

/**
 * `open`: build the MR's commit and deploy it to the preview environment `mr-<iid>` (an MR opened,
 * reopened, or updated with new commits). `close`: tear the preview down. `deliveryId` names what
 * asked for it (a webhook delivery's dedupe key, or an id the asker makes for deletes, TTL and limits).
 */
const previewsPayloadSchema = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("open"),
      app: appNameSchema,
      iid: iidSchema,
      sha: z.string().regex(/^[0-9a-f]{40}$/, "sha is a 40-character hex commit SHA"),
      sourceBranch: z.string().min(1, "sourceBranch is required").max(255, "sourceBranch is at most 255 characters"),
      /** The MR's author (GitLab user id): who must hold Developer access for it to be built. */
      authorId: z.number().int().positive(),
      /** The source project is not the target project: a fork's code. */
      fork: z.boolean(),
      mrUrl: z
        .url({ protocol: /^https?$/, error: "mrUrl is the merge request's http(s) URL" })
        .max(2048)
        .optional(),
      title: z.string().max(300).optional(),
      deliveryId: idSchema,
      trace: traceContextSchema.optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal("close"),
      app: appNameSchema,
      iid: iidSchema,
      reason: z.enum(previewCloseReasons, { error: `reason is one of ${previewCloseReasons.join(", ")}` }),
      deliveryId: idSchema,
      trace: traceContextSchema.optional(),
    })
    .strict(),
]);

export type PreviewsPayload = z.infer<typeof previewsPayloadSchema>;

export const previewsQueue = defineQueue({
  name: "previews",
  schema: previewsPayloadSchema,
  // One job per MR commit (a resent hook or a second update naming the same commit is one job),
  // one per teardown request.
  jobId: (p) => (p.kind === "open" ? `open.${p.app}.${p.iid}.${p.sha}` : `close.${p.app}.${p.iid}.${p.deliveryId}`),
  jobOptions: {
    // Opening and tearing down converge (each step is a no-op when done), so retries are safe;
    // they ride out a restarting deployer or Docker engine.
    attempts: 5,
    backoff: { type: "exponential", delay: 5_000, jitter: 0.5 },
    ...retention,
  },
});
