import { commonEnvSchema } from "@hoist/shared";
import { z } from "zod";

export const envSchema = commonEnvSchema.extend({
  HOIST_PORT: z.coerce
    .number({ error: "a TCP port number, 0-65535" })
    .int("a TCP port number, 0-65535")
    .min(0)
    .max(65535, "a TCP port, 1-65535")
    .default(8080),
  HOIST_HOST: z.string().min(1).default("0.0.0.0"),
});
export type Env = z.infer<typeof envSchema>;
