import { z } from "zod";
import { defineQueue, idSchema, retention, traceContextSchema } from "./define.js";

const buildPayloadSchema = z
  .object({
    kind: z.literal("build"),
    buildId: idSchema,
    trace: traceContextSchema.optional(),
  })
  .strict();

export const buildQueue = defineQueue({
  name: "build",
  schema: buildPayloadSchema,
  jobId: (p) => p.buildId,
  jobOptions: {
    // A build mostly fails for good (bad Dockerfile); retries cover a registry or git host hiccup.
    attempts: 3,
    backoff: { type: "exponential", delay: 10_000, jitter: 0.5 },
    ...retention,
  },
});
