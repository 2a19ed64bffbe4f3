import { concurrencySchema, workerEnvSchema } from "@hoist/shared";
import type { z } from "zod";

export const envSchema = workerEnvSchema.extend({
  HOIST_CONCURRENCY: concurrencySchema,
});
export type Env = z.infer<typeof envSchema>;
