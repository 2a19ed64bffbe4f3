import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An AWS KMS test server speaking the AWS JSON 1.1 protocol (`X-Amz-Target: TrentService.*`):
 * test support only. It implements GenerateDataKey and Decrypt as the KMS API reference
 * describes them, with KMS's error shapes (`{"__type": "...", "message": ...}`, HTTP 400).
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
  requests: { target: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

interface Key {
  arn: string;
  material: Buffer;
  enabled: boolean;
}

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const ACCOUNT = "111122223333";

/** KMS treats the encryption context as a set: key order does not matter. */
function canonicalContext(ctx: unknown): Buffer {
  if (ctx === undefined) return Buffer.alloc(0);
  if (typeof ctx !== "object" || ctx === null || Array.isArray(ctx))
    throw new KmsError("ValidationException", "EncryptionContext must be a map");
  const entries = Object.entries(ctx as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [, v] of entries)
    if (typeof v !== "string") throw new KmsError("ValidationException", "EncryptionContext values must be strings");
  return Buffer.from(JSON.stringify(entries));
}

export async function startKmsServer(region = "eu-west-1"): Promise<KmsTestServer> {
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
      throw new KmsError(
        "ValidationException",
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
      );
    const alias = keyId.startsWith("alias/")
      ? aliases.get(keyId)
      : keyId.startsWith(`arn:aws:kms:${region}:${ACCOUNT}:alias/`)
        ? aliases.get(keyId.split(":").pop() ?? "")
        : undefined;
    const key = keys.get(alias ?? keyId);
    if (!key) throw new KmsError("NotFoundException", `Key '${keyId}' does not exist`);
    if (!key.enabled) throw new KmsError("DisabledException", `${key.arn} is disabled.`);
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
    const invalid = new KmsError(
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
      throw new KmsError("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.");
    if (!key.enabled) throw new KmsError("DisabledException", `${key.arn} is disabled.`);
    const rest = blob.subarray(2 + arnLen);
    try {
      const d = createDecipheriv("aes-256-gcm", key.material, rest.subarray(0, 12));
      d.setAAD(ctx);
      d.setAuthTag(rest.subarray(12, 28));
      return { key, plaintext: Buffer.concat([d.update(rest.subarray(28)), d.final()]) };
    } catch {
      // Real KMS answers a wrong encryption context or a flipped bit with a message-less InvalidCiphertextException.
      throw new KmsError("InvalidCiphertextException", "");
    }
  };

  const b64 = (v: unknown, field: string): Buffer => {
    if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
      throw new KmsError("SerializationException", `${field} is not a base64 blob`);
    return Buffer.from(v, "base64");
  };

  const handlers: Record<string, (body: Record<string, unknown>) => Record<string, unknown>> = {
    GenerateDataKey(body) {
      const key = resolveKey(body.KeyId);
      let bytes: number;
      if (body.KeySpec !== undefined && body.NumberOfBytes !== undefined)
        throw new KmsError("ValidationException", "Please specify either number of bytes or key spec.");
      if (body.KeySpec === "AES_256") bytes = 32;
      else if (body.KeySpec === "AES_128") bytes = 16;
      else if (typeof body.NumberOfBytes === "number" && body.NumberOfBytes >= 1 && body.NumberOfBytes <= 1024) bytes = body.NumberOfBytes;
      else throw new KmsError("ValidationException", "Please specify either number of bytes or key spec.");
      const plaintext = randomBytes(bytes);
      const blob = wrap(key, plaintext, canonicalContext(body.EncryptionContext));
      return { CiphertextBlob: blob.toString("base64"), Plaintext: plaintext.toString("base64"), KeyId: key.arn };
    },
    Decrypt(body) {
      const { key, plaintext } = unwrap(b64(body.CiphertextBlob, "CiphertextBlob"), body.KeyId, canonicalContext(body.EncryptionContext));
      return { KeyId: key.arn, Plaintext: plaintext.toString("base64"), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" };
    },
  };

  const answer = (res: ServerResponse, status: number, body: unknown, errorType?: string) => {
    const headers: Record<string, string> = { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": crypto.randomUUID() };
    if (errorType) headers["x-amzn-errortype"] = errorType;
    res.writeHead(status, headers).end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    try {
      if (req.method !== "POST") throw new KmsError("UnknownOperationException", "", 404);
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(req.headers.authorization ?? "")) {
        throw new KmsError("MissingAuthenticationTokenException", "Missing Authentication Token");
      }
      const target = String(req.headers["x-amz-target"] ?? "");
      const op = target.startsWith("TrentService.") ? target.slice("TrentService.".length) : "";
      const handler = handlers[op];
      if (!handler) throw new KmsError("UnknownOperationException", "");
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
      } catch {
        throw new KmsError("SerializationException", "Start of structure or map found where not expected.");
      }
      requests.push({ target, body });
      answer(res, 200, handler(body));
    } catch (err) {
      if (err instanceof KmsError) answer(res, err.status, { __type: err.type, message: err.message }, err.type);
      else answer(res, 500, { __type: "KMSInternalException", message: String(err) }, "KMSInternalException");
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
