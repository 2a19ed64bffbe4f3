import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { AwsError } from "../aws/errors.js";
import { type AwsRejection, type Json, startAwsJsonServer, TEST_AWS_CREDENTIALS } from "../aws/json-server.js";
import type { AwsTestCredentials } from "../aws/sigv4.js";

/**
 * An AWS KMS test server speaking the AWS JSON 1.1 protocol (`X-Amz-Target: TrentService.*`):
 * test support only. It implements GenerateDataKey and Decrypt as the KMS API reference
 * describes them, with KMS's error shapes (`{"__type": "...", "message": ...}`, HTTP 400).
 * Every call is SigV4-verified for service `kms` in the server's region (5 minutes of clock skew).
 * Ciphertext blobs name their key and are bound to the encryption context, like real KMS.
 */
export interface KmsTestServer {
  url: string;
  region: string;
  /** ARN of the key created at start. */
  keyArn: string;
  /** Adds a key; `enabled: false` makes it answer DisabledException. */
  addKey(opts?: { alias?: string; enabled?: boolean }): string;
  setEnabled(arn: string, enabled: boolean): void;
  /** Authenticated calls, in order. */
  requests: { target: string; body: Json }[];
  /** Calls refused by SigV4 verification, with KMS's error. */
  rejected: AwsRejection[];
  close(): Promise<void>;
}

interface Key {
  arn: string;
  material: Buffer;
  enabled: boolean;
}

const ACCOUNT = "111122223333";

/** KMS treats the encryption context as a set: key order does not matter. */
function canonicalContext(ctx: unknown): Buffer {
  if (ctx === undefined) return Buffer.alloc(0);
  if (typeof ctx !== "object" || ctx === null || Array.isArray(ctx))
    throw new AwsError("ValidationException", "EncryptionContext must be a map");
  const entries = Object.entries(ctx as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [, v] of entries)
    if (typeof v !== "string") throw new AwsError("ValidationException", "EncryptionContext values must be strings");
  return Buffer.from(JSON.stringify(entries));
}

export interface KmsServerOptions {
  region?: string;
  /** Key pairs KMS knows; TEST_AWS_CREDENTIALS by default. */
  credentials?: readonly AwsTestCredentials[];
  clock?: () => number;
}

export async function startKmsServer(opts: KmsServerOptions = {}): Promise<KmsTestServer> {
  const region = opts.region ?? "eu-west-1";
  const rejected: AwsRejection[] = [];
  const keys = new Map<string, Key>();
  const aliases = new Map<string, string>();
  const requests: KmsTestServer["requests"] = [];

  const addKey = (opts: { alias?: string; enabled?: boolean } = {}) => {
    const id = crypto.randomUUID();
    const arn = `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`;
    keys.set(arn, { arn, material: randomBytes(32), enabled: opts.enabled ?? true });
    keys.set(id, keys.get(arn) as Key);
    if (opts.alias) aliases.set(opts.alias, arn);
    return arn;
  };

  const resolveKey = (keyId: unknown): Key => {
    if (typeof keyId !== "string" || keyId.length === 0)
      throw new AwsError(
        "ValidationException",
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
      );
    const alias = keyId.startsWith("alias/")
      ? aliases.get(keyId)
      : keyId.startsWith(`arn:aws:kms:${region}:${ACCOUNT}:alias/`)
        ? aliases.get(keyId.split(":").pop() ?? "")
        : undefined;
    const key = keys.get(alias ?? keyId);
    if (!key) throw new AwsError("NotFoundException", `Key '${keyId}' does not exist`);
    if (!key.enabled) throw new AwsError("DisabledException", `${key.arn} is disabled.`);
    return key;
  };

  // Blob: [arn length u16][arn][iv 12][tag 16][encrypted data key].
  const wrap = (key: Key, plaintext: Buffer, ctx: Buffer): Buffer => {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key.material, iv);
    c.setAAD(ctx);
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    const arn = Buffer.from(key.arn);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(arn.length);
    return Buffer.concat([len, arn, iv, c.getAuthTag(), ct]);
  };

  const unwrap = (blob: Buffer, keyId: unknown, ctx: Buffer): { key: Key; plaintext: Buffer } => {
    const invalid = new AwsError(
      "InvalidCiphertextException",
      "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.",
    );
    if (blob.length < 2) throw invalid;
    const arnLen = blob.readUInt16BE(0);
    if (blob.length < 2 + arnLen + 28) throw invalid;
    const arn = blob.subarray(2, 2 + arnLen).toString();
    const key = keys.get(arn);
    if (!key) throw invalid;
    if (keyId !== undefined && resolveKey(keyId).arn !== key.arn)
      throw new AwsError("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.");
    if (!key.enabled) throw new AwsError("DisabledException", `${key.arn} is disabled.`);
    const rest = blob.subarray(2 + arnLen);
    try {
      const d = createDecipheriv("aes-256-gcm", key.material, rest.subarray(0, 12));
      d.setAAD(ctx);
      d.setAuthTag(rest.subarray(12, 28));
      return { key, plaintext: Buffer.concat([d.update(rest.subarray(28)), d.final()]) };
    } catch {
      // Real KMS answers a wrong encryption context or a flipped bit with a message-less InvalidCiphertextException.
      throw new AwsError("InvalidCiphertextException", "");
    }
  };

  const b64 = (v: unknown, field: string): Buffer => {
    if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
      throw new AwsError("SerializationException", `${field} is not a base64 blob`);
    return Buffer.from(v, "base64");
  };

  const handlers: Record<string, (body: Json) => Json> = {
    GenerateDataKey(body) {
      const key = resolveKey(body.KeyId);
      let bytes: number;
      if (body.KeySpec !== undefined && body.NumberOfBytes !== undefined)
        throw new AwsError("ValidationException", "Please specify either number of bytes or key spec.");
      if (body.KeySpec === "AES_256") bytes = 32;
      else if (body.KeySpec === "AES_128") bytes = 16;
      else if (typeof body.NumberOfBytes === "number" && body.NumberOfBytes >= 1 && body.NumberOfBytes <= 1024) bytes = body.NumberOfBytes;
      else throw new AwsError("ValidationException", "Please specify either number of bytes or key spec.");
      const plaintext = randomBytes(bytes);
      const blob = wrap(key, plaintext, canonicalContext(body.EncryptionContext));
      return { CiphertextBlob: blob.toString("base64"), Plaintext: plaintext.toString("base64"), KeyId: key.arn };
    },
    Decrypt(body) {
      const { key, plaintext } = unwrap(b64(body.CiphertextBlob, "CiphertextBlob"), body.KeyId, canonicalContext(body.EncryptionContext));
      return { KeyId: key.arn, Plaintext: plaintext.toString("base64"), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" };
    },
  };

  const { url, close } = await startAwsJsonServer({
    service: "kms",
    targetPrefix: "TrentService.",
    region: () => region,
    credentials: opts.credentials ?? [TEST_AWS_CREDENTIALS],
    clock: opts.clock ?? Date.now,
    maxSkewMs: 5 * 60_000,
    internalErrorType: "KMSInternalException",
    operations: handlers,
    before: (call) => requests.push({ target: call.target, body: call.body }),
    rejected,
  });
  return {
    url,
    region,
    keyArn: addKey({ alias: "alias/hoist" }),
    addKey,
    setEnabled(arn, enabled) {
      const key = keys.get(arn);
      if (key) key.enabled = enabled;
    },
    requests,
    rejected,
    close,
  };
}
