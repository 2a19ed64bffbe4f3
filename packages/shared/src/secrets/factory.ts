import { join } from "node:path";
import { z } from "zod";
import { LocalSecretBox, loadOrCreateMasterKey } from "./local.js";
import type { SecretBox } from "./sealed.js";

/** Env of every service that seals or opens secrets. */
export const secretsEnvSchema = z.object({
  HOIST_KMS: z.enum(["local", "aws"], { error: '"local" (a master key file) or "aws" (AWS KMS)' }).default("local"),
  HOIST_KMS_KEY_ID: z.string().min(1, "a KMS key id, ARN or alias").optional(),
  HOIST_MASTER_KEY_FILE: z.string().min(1).optional(),
});
export type SecretsEnv = z.infer<typeof secretsEnvSchema>;

export function createSecretBox(env: SecretsEnv & { HOIST_DATA_DIR: string }): SecretBox {
  if (env.HOIST_KMS === "local") {
    return new LocalSecretBox(loadOrCreateMasterKey(env.HOIST_MASTER_KEY_FILE ?? join(env.HOIST_DATA_DIR, "master.key")));
  }
  throw new Error("HOIST_KMS=aws is not implemented yet");
}
