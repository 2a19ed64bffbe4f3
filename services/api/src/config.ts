import { commonEnvSchema, secretsEnvSchema } from "@hoist/shared";
import { z } from "zod";

export const envSchema = commonEnvSchema.extend(secretsEnvSchema.shape).extend({
  HOIST_PORT: z.coerce.number({ error: "a TCP port number, 0-65535" }).int("a TCP port number, 0-65535").min(0).max(65535).default(8080),
  HOIST_HOST: z.string().min(1).default("0.0.0.0"),
  HOIST_API_TOKEN: z
    .string({ error: "a random string of 32+ characters that API clients send as Authorization: Bearer <token>" })
    .min(32, "at least 32 characters (e.g. openssl rand -hex 32)"),
});
export type Env = z.infer<typeof envSchema>;
