import { join } from "node:path";
import { KMSClient } from "@aws-sdk/client-kms";
import { z } from "zod";
import { AwsKmsSecretBox } from "./aws.js";
import { LocalSecretBox, loadOrCreateMasterKey } from "./local.js";
import { type SecretBox, SecretError } from "./sealed.js";

/** Env of every service that seals or opens secrets. */
export const secretsEnvSchema = z.object({
  HOIST_KMS: z.enum(["local", "aws"], { error: '"local" (a master key file) or "aws" (AWS KMS)' }).default("local"),
  HOIST_KMS_KEY_ID: z.string().min(1, "a KMS key id, ARN or alias").optional(),
  HOIST_MASTER_KEY_FILE: z.string().min(1).optional(),
});
type SecretsEnv = z.infer<typeof secretsEnvSchema>;

export function createSecretBox(env: SecretsEnv & { HOIST_DATA_DIR: string }, kmsClient?: KMSClient): SecretBox {
  if (env.HOIST_KMS === "local") {
    return new LocalSecretBox(loadOrCreateMasterKey(env.HOIST_MASTER_KEY_FILE ?? join(env.HOIST_DATA_DIR, "master.key")));
  }
  if (!env.HOIST_KMS_KEY_ID) {
    throw new SecretError("HOIST_KMS=aws needs HOIST_KMS_KEY_ID: the id, ARN or alias (alias/...) of a symmetric KMS key");
  }
  // Region, credentials and endpoint (AWS_REGION, AWS_ENDPOINT_URL_KMS, ...) come from the SDK's standard chain.
  return new AwsKmsSecretBox(kmsClient ?? new KMSClient({}), env.HOIST_KMS_KEY_ID);
}
