import { createHash, randomBytes } from "node:crypto";

/** The webhook secret GitLab sends back in X-Gitlab-Token: 32 random bytes, shown once. */
export function newWebhookToken(): string {
  return randomBytes(32).toString("base64url");
}

/** The unguessable last segment of an app's webhook URL. */
export function newHookId(): string {
  return randomBytes(18).toString("base64url");
}

/** Standard Webhooks signing secret format, also used for Hoist's outgoing webhooks. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/**
 * What is stored to verify a webhook token. The token is 256 random bits, so a plain SHA-256
 * cannot be brute-forced and keeps verification cheap on the hot path (no slow KDF needed).
 */
export function hashToken(token: string): string {
  return `sha256:${createHash("sha256").update(token).digest("hex")}`;
}
