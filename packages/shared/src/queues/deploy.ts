import { z } from "zod";
import { defineQueue, idSchema, retention, traceContextSchema } from "./define.js";

const deployPayloadSchema = z
  .object({
    kind: z.literal("deploy"),
    releaseId: idSchema,
    trace: traceContextSchema.optional(),
  })
  .strict();

export const deployQueue = defineQueue({
  name: "deploy",
  schema: deployPayloadSchema,
  jobId: (p) => p.releaseId,
  jobOptions: {
    // Deploys converge idempotently, so retrying through a throttled or restarting target is safe.
    attempts: 5,
    backoff: { type: "exponential", delay: 5_000, jitter: 0.5 },
    ...retention,
  },
});
