import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from "@aws-sdk/client-kms";
import { describeAwsAuthError, isAwsAuthError } from "../aws/auth-errors.js";
import { aesGcmOpen, aesGcmSeal, contextAad } from "./aead.js";
import { type Sealed, type SecretBox, type SecretContext, SecretError } from "./sealed.js";

/** KMS encryption context: the same app and purpose that bind the ciphertext, so KMS audit logs show them too. */
function encryptionContext(context: SecretContext): Record<string, string> {
  return { app: context.app, purpose: context.purpose };
}

/** Names the KMS failure without echoing key material; AWS error names say what to fix (access, key state, ...). */
function kmsFailure(action: string, err: unknown): SecretError {
  const name = err instanceof Error ? err.name : "Error";
  const message = err instanceof Error ? err.message : String(err);
  if (name === "InvalidCiphertextException") {
    return new SecretError("secret could not be decrypted: it was tampered with, or sealed for another app, purpose or key");
  }
  if (isAwsAuthError(name)) {
    return new SecretError(
      `AWS KMS ${action} failed: ${describeAwsAuthError(name, message, { who: "this service", region: "AWS_REGION" })}`,
    );
  }
  return new SecretError(
    `AWS KMS ${action} failed (${name}): ${message}; check HOIST_KMS_KEY_ID, the key's state and this service's IAM permissions`,
  );
}

/**
 * Envelope encryption with AWS KMS: KMS generates a data key per secret (bound to the
 * encryption context), the value is sealed locally with AES-256-GCM, and only KMS's encrypted
 * copy of the data key is stored beside the ciphertext.
 */
export class AwsKmsSecretBox implements SecretBox {
  /**
   * Data keys KMS decrypted recently, by encrypted key and context: a notifier opening the same
   * Slack URL for every message would otherwise make a KMS call (latency, cost, throttling) each
   * time. Bounded in size and age, as the AWS Encryption SDK's caching does; a key disabled in KMS
   * stops opening secrets here once its cached data keys age out.
   */
  private readonly dataKeys = new Map<string, { key: Buffer; at: number }>();

  constructor(
    private readonly kms: KMSClient,
    readonly keyId: string,
    private readonly cache: { maxAgeMs: number; maxEntries: number } = { maxAgeMs: 60_000, maxEntries: 1000 },
  ) {}

  private async dataKey(sealed: Sealed, context: SecretContext): Promise<Buffer> {
    const id = `${sealed.keyId}\u0000${context.app}\u0000${context.purpose}\u0000${sealed.encryptedKey}`;
    const hit = this.dataKeys.get(id);
    if (hit && Date.now() - hit.at < this.cache.maxAgeMs) return Buffer.from(hit.key);
    let out: { Plaintext?: Uint8Array };
    try {
      out = await this.kms.send(
        new DecryptCommand({
          CiphertextBlob: Buffer.from(sealed.encryptedKey, "base64"),
          KeyId: sealed.keyId,
          EncryptionContext: encryptionContext(context),
        }),
      );
    } catch (err) {
      throw kmsFailure("Decrypt", err);
    }
    if (out.Plaintext?.length !== 32) throw new SecretError("AWS KMS Decrypt answered without a 256-bit data key");
    const key = Buffer.from(out.Plaintext);
    if (this.cache.maxEntries > 0) {
      if (this.dataKeys.size >= this.cache.maxEntries) {
        for (const old of this.dataKeys.values()) old.key.fill(0);
        this.dataKeys.clear();
      }
      this.dataKeys.set(id, { key: Buffer.from(key), at: Date.now() });
    }
    return key;
  }

  async seal(plaintext: string | Buffer, context: SecretContext): Promise<Sealed> {
    let out: { CiphertextBlob?: Uint8Array; Plaintext?: Uint8Array; KeyId?: string };
    try {
      out = await this.kms.send(
        new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: "AES_256", EncryptionContext: encryptionContext(context) }),
      );
    } catch (err) {
      throw kmsFailure("GenerateDataKey", err);
    }
    if (!out.CiphertextBlob || out.Plaintext?.length !== 32) {
      throw new SecretError("AWS KMS GenerateDataKey answered without a 256-bit data key and its encrypted copy");
    }
    const dataKey = Buffer.from(out.Plaintext);
    try {
      const body = aesGcmSeal(dataKey, Buffer.isBuffer(plaintext) ? plaintext : Buffer.from(plaintext, "utf8"), contextAad(context));
      return {
        v: 1,
        provider: "aws",
        // The key ARN KMS used, so a rotated alias still opens old secrets.
        keyId: out.KeyId ?? this.keyId,
        encryptedKey: Buffer.from(out.CiphertextBlob).toString("base64"),
        iv: body.iv.toString("base64"),
        tag: body.tag.toString("base64"),
        ciphertext: body.ciphertext.toString("base64"),
      };
    } finally {
      dataKey.fill(0);
    }
  }

  /** KMS keeps the master key: each service's IAM policy says which purposes it may decrypt. */
  needsReseal(): boolean {
    return false;
  }

  async open(sealed: Sealed, context: SecretContext): Promise<Buffer> {
    if (sealed.provider !== "aws") {
      throw new SecretError(
        `secret was sealed by the ${sealed.provider} provider (${sealed.keyId}), not by AWS KMS; set HOIST_KMS accordingly`,
      );
    }
    const dataKey = await this.dataKey(sealed, context);
    try {
      return aesGcmOpen(
        dataKey,
        {
          iv: Buffer.from(sealed.iv, "base64"),
          tag: Buffer.from(sealed.tag, "base64"),
          ciphertext: Buffer.from(sealed.ciphertext, "base64"),
        },
        contextAad(context),
      );
    } finally {
      dataKey.fill(0);
    }
  }
}
