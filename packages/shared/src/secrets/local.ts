import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { aesGcmOpen, aesGcmSeal, contextAad } from "./aead.js";
import { type Sealed, type SecretBox, type SecretContext, SecretError } from "./sealed.js";

/** Reads the 256-bit master key, creating it (mode 0600) when the file does not exist yet. */
export function loadOrCreateMasterKey(path: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    writeFileSync(path, key.toString("base64"), { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600);
    return key;
  }
  const key = Buffer.from(raw.toString("utf8").trim(), "base64");
  if (key.length !== 32) {
    throw new SecretError(
      `master key file ${path} must hold 32 bytes, base64-encoded (it holds ${key.length}); restore it from backup or point HOIST_MASTER_KEY_FILE at the right file`,
    );
  }
  return key;
}

/** Envelope encryption under a local master key: each secret gets its own data key. */
export class LocalSecretBox implements SecretBox {
  readonly keyId: string;

  constructor(private readonly masterKey: Buffer) {
    this.keyId = `local:${createHash("sha256").update(masterKey).digest("hex").slice(0, 16)}`;
  }

  async seal(plaintext: string | Buffer, context: SecretContext): Promise<Sealed> {
    const aad = contextAad(context);
    const dataKey = randomBytes(32);
    const wrapped = aesGcmSeal(this.masterKey, dataKey, aad);
    const body = aesGcmSeal(dataKey, Buffer.isBuffer(plaintext) ? plaintext : Buffer.from(plaintext, "utf8"), aad);
    return {
      v: 1,
      provider: "local",
      keyId: this.keyId,
      encryptedKey: Buffer.concat([wrapped.iv, wrapped.tag, wrapped.ciphertext]).toString("base64"),
      iv: body.iv.toString("base64"),
      tag: body.tag.toString("base64"),
      ciphertext: body.ciphertext.toString("base64"),
    };
  }

  async open(sealed: Sealed, context: SecretContext): Promise<Buffer> {
    if (sealed.provider !== "local" || sealed.keyId !== this.keyId) {
      throw new SecretError(`secret was sealed by ${sealed.provider} key ${sealed.keyId}, not by this master key (${this.keyId})`);
    }
    const aad = contextAad(context);
    const wrapped = Buffer.from(sealed.encryptedKey, "base64");
    const dataKey = aesGcmOpen(
      this.masterKey,
      { iv: wrapped.subarray(0, 12), tag: wrapped.subarray(12, 28), ciphertext: wrapped.subarray(28) },
      aad,
    );
    return aesGcmOpen(
      dataKey,
      {
        iv: Buffer.from(sealed.iv, "base64"),
        tag: Buffer.from(sealed.tag, "base64"),
        ciphertext: Buffer.from(sealed.ciphertext, "base64"),
      },
      aad,
    );
  }
}
