import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { aesGcmOpen, aesGcmSeal, contextAad } from "./aead.js";
import { type Sealed, type SecretBox, type SecretContext, SecretError } from "./sealed.js";

/** Says which file cannot be read, by whom, and what to run, instead of a bare EACCES (a crash loop in a container). */
function unreadable(path: string): SecretError {
  const uid = process.getuid?.();
  let owner = "";
  try {
    const st = statSync(path);
    owner = ` (owned by uid ${st.uid}, mode ${(st.mode & 0o777).toString(8).padStart(4, "0")})`;
  } catch {
    // The directory itself may be closed to us: the message still names the file.
  }
  return new SecretError(
    `master key file ${path}${owner} cannot be read by this process (uid ${uid ?? "?"}): run every Hoist service as the same user, or give this one the file: chown ${uid ?? "<uid>"} ${path} && chmod 600 ${path} (and let it enter ${dirname(path)})`,
  );
}

/**
 * Reads the 256-bit master key, creating it (mode 0600, its directory 0700) when the file does not
 * exist yet. Created by root (the builder and deployer run as root for the Docker socket), it is
 * handed to the owner of its directory, so the services that run as that user (the API, as `node`)
 * can read it too.
 */
export function loadOrCreateMasterKey(path: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") throw unreadable(path);
    if (code !== "ENOENT") throw err;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    try {
      writeFileSync(path, key.toString("base64"), { mode: 0o600, flag: "wx" });
    } catch (writeErr) {
      // Another service created it first: that key is the one.
      if ((writeErr as NodeJS.ErrnoException).code === "EEXIST") return loadOrCreateMasterKey(path);
      throw writeErr;
    }
    chmodSync(path, 0o600);
    const dir = statSync(dirname(path));
    if (process.getuid?.() === 0 && dir.uid !== 0) chownSync(path, dir.uid, dir.gid);
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
