import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { SecretContext } from "./sealed.js";
import { SecretError } from "./sealed.js";

/** The context is authenticated data: opening with another app or purpose fails. */
export function contextAad(context: SecretContext): Buffer {
  return Buffer.from(JSON.stringify({ app: context.app, purpose: context.purpose }));
}

export function aesGcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer) {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

export function aesGcmOpen(key: Buffer, parts: { iv: Buffer; tag: Buffer; ciphertext: Buffer }, aad: Buffer): Buffer {
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, parts.iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(parts.tag);
    return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]);
  } catch {
    // Never echo key material or ciphertext: the caller only needs to know it did not open.
    throw new SecretError("secret could not be decrypted: it was tampered with, or sealed for another app, purpose or key");
  }
}
