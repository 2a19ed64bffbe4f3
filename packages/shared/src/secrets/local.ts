import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { aesGcmOpen, aesGcmSeal, contextAad } from "./aead.js";
import { type Keyring, masterKeyId, purposeKey, SECRET_PURPOSES, type SecretPurpose } from "./keyring.js";
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

const PURPOSES: readonly string[] = SECRET_PURPOSES;
const isPurpose = (p: string): p is SecretPurpose => PURPOSES.includes(p);

/**
 * Envelope encryption under local keys: each secret gets its own data key, wrapped by its
 * purpose's key (v2). Built from the master key (the API: every purpose, and the secrets an older
 * Hoist sealed under the master key itself, v1) or from a worker's keyring (its purposes only).
 */
export class LocalSecretBox implements SecretBox {
  readonly keyId: string;
  private readonly master: Buffer | undefined;
  private readonly keyring: Keyring | undefined;
  /** The master's purpose keys, derived once: an HKDF per opened secret cost the notifier ~0.3 ms a message. */
  private readonly derived = new Map<SecretPurpose, Buffer>();

  constructor(source: Buffer | Keyring) {
    if (Buffer.isBuffer(source)) {
      this.master = source;
      this.keyId = masterKeyId(source);
      for (const purpose of SECRET_PURPOSES) this.derived.set(purpose, purposeKey(source, purpose));
    } else {
      this.keyring = source;
      this.keyId = source.keyId;
    }
  }

  private keyFor(purpose: string): Buffer {
    if (!isPurpose(purpose)) throw new SecretError(`no secret purpose "${purpose}": one of ${SECRET_PURPOSES.join(", ")}`);
    const derived = this.derived.get(purpose);
    if (derived) return derived;
    const key = this.keyring?.keys[purpose];
    if (!key) {
      const held = Object.keys(this.keyring?.keys ?? {}).join(", ") || "none";
      throw new SecretError(`the ${this.keyring?.service} holds no key for ${purpose} secrets (its keyring opens: ${held})`);
    }
    return key;
  }

  /** Sealed under the master key itself by a Hoist before purpose keys: the API re-seals these. */
  needsReseal(sealed: Sealed): boolean {
    return sealed.provider === "local" && sealed.v === 1;
  }

  async seal(plaintext: string | Buffer, context: SecretContext): Promise<Sealed> {
    const aad = contextAad(context);
    const dataKey = randomBytes(32);
    const wrapped = aesGcmSeal(this.keyFor(context.purpose), dataKey, aad);
    const body = aesGcmSeal(dataKey, Buffer.isBuffer(plaintext) ? plaintext : Buffer.from(plaintext, "utf8"), aad);
    return {
      v: 2,
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
    let wrappingKey: Buffer;
    if (sealed.v === 1) {
      if (!this.master) {
        throw new SecretError(
          `this ${context.purpose} secret of ${context.app} was sealed by an older Hoist under the master key itself; the API re-seals such secrets when it starts: start the API once, then retry`,
        );
      }
      wrappingKey = this.master;
    } else {
      wrappingKey = this.keyFor(context.purpose);
    }
    const aad = contextAad(context);
    const wrapped = Buffer.from(sealed.encryptedKey, "base64");
    const dataKey = aesGcmOpen(
      wrappingKey,
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
