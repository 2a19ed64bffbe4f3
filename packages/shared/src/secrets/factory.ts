import { join } from "node:path";
import { KMSClient } from "@aws-sdk/client-kms";
import { z } from "zod";
import { AwsKmsSecretBox } from "./aws.js";
import { loadKeyring } from "./keyring.js";
import { LocalSecretBox, loadOrCreateMasterKey } from "./local.js";
import { type SecretBox, SecretError } from "./sealed.js";

/** Env of every service that seals or opens secrets. */
export const secretsEnvSchema = z.object({
  HOIST_KMS: z.enum(["local", "aws"], { error: '"local" (a master key file) or "aws" (AWS KMS)' }).default("local"),
  HOIST_KMS_KEY_ID: z.string().min(1, "a KMS key id, ARN or alias").optional(),
  HOIST_MASTER_KEY_FILE: z.string().min(1).optional(),
  /** A worker's keyring (the keys of the secrets it may open only), instead of the master key. */
  HOIST_KEYRING_FILE: z.string().min(1).optional(),
});
type SecretsEnv = z.infer<typeof secretsEnvSchema>;

export function createSecretBox(env: SecretsEnv & { HOIST_DATA_DIR: string }, kmsClient?: KMSClient): SecretBox {
  if (env.HOIST_KMS === "local") {
    if (env.HOIST_KEYRING_FILE && env.HOIST_MASTER_KEY_FILE) {
      throw new SecretError(
        "HOIST_KEYRING_FILE and HOIST_MASTER_KEY_FILE are both set: a worker gets its keyring only (the master key opens every secret), the API the master key only",
      );
    }
    if (env.HOIST_KEYRING_FILE) return new LocalSecretBox(loadKeyring(env.HOIST_KEYRING_FILE));
    return new LocalSecretBox(loadOrCreateMasterKey(env.HOIST_MASTER_KEY_FILE ?? join(env.HOIST_DATA_DIR, "master.key")));
  }
  if (!env.HOIST_KMS_KEY_ID) {
    throw new SecretError("HOIST_KMS=aws needs HOIST_KMS_KEY_ID: the id, ARN or alias (alias/...) of a symmetric KMS key");
  }
  // Region, credentials and endpoint (AWS_REGION, AWS_ENDPOINT_URL_KMS, ...) come from the SDK's standard chain.
  return new AwsKmsSecretBox(kmsClient ?? new KMSClient({}), env.HOIST_KMS_KEY_ID);
}

/**
 * Said at a worker's boot when it holds the master key: it can then open every app's every
 * secret, where its keyring would open only its own kind (docs/operations.md, security model).
 */
export function masterKeyWarning(env: SecretsEnv): string | undefined {
  if (env.HOIST_KMS !== "local" || env.HOIST_KEYRING_FILE) return undefined;
  return "this worker holds the master key, which opens every secret of every app: give it its keyring instead (HOIST_KEYRING_FILE; pnpm start and docker compose do)";
}
