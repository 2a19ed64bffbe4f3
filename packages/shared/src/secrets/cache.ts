import { createHash } from "node:crypto";
import type { SecretBox } from "./sealed.js";

interface CacheOptions {
  /** How long an opened secret is kept; 0 turns the cache off. */
  ttlMs: number;
  /** Most secrets kept at once (the oldest go first). */
  max?: number;
  now?: () => number;
}

/**
 * `box`, remembering what it opened for `ttlMs`: a worker that sends a message per event would
 * otherwise unwrap the same Slack URL (a KMS Decrypt call with AWS, and an audit entry) for each
 * one. Keyed by the whole sealed value, its context and the app it is opened for, so a wrong
 * context still fails (it is opened, never served from here) and each app's first use is audited.
 * A changed secret is a new sealed value: it is never served stale.
 */
export function cachedSecretBox(box: SecretBox, opts: CacheOptions): SecretBox {
  if (opts.ttlMs <= 0) return box;
  const max = opts.max ?? 1000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { plain: Buffer; until: number }>();
  return {
    seal: (plaintext, context) => box.seal(plaintext, context),
    needsReseal: (sealed) => box.needsReseal(sealed),
    async open(sealed, context, forApp) {
      const key = createHash("sha256")
        .update(JSON.stringify([sealed, context.app, context.purpose, forApp ?? null]))
        .digest("base64");
      const hit = cache.get(key);
      if (hit && hit.until > now()) return Buffer.from(hit.plain);
      const plain = await box.open(sealed, context, forApp);
      cache.delete(key);
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(key, { plain: Buffer.from(plain), until: now() + opts.ttlMs });
      return plain;
    },
  };
}
