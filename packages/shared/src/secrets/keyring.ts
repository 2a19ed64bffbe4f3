import { createHash, hkdfSync } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { SecretError } from "./sealed.js";

/** Every kind of secret Hoist seals; each has a key of its own, derived from the master key. */
export const SECRET_PURPOSES = [
  "deploy-key",
  "env",
  "webhook-signing-secret",
  "slack-webhook-url",
  "outgoing-webhook-secret",
  "gitlab-token",
] as const;
export type SecretPurpose = (typeof SECRET_PURPOSES)[number];

/**
 * What each worker may open, and so the only keys its keyring holds: a notifier that is broken
 * into reads Slack URLs, never deploy keys or app env; a builder never reads GitLab tokens. The
 * API seals every kind, so it alone holds the master key.
 */
export const WORKER_PURPOSES = {
  builder: ["deploy-key", "env"],
  // gitlab-token: a GitLab-linked app's freeze periods hold its deploys (environments/freeze-window.ts).
  deployer: ["env", "gitlab-token"],
  notifier: ["gitlab-token", "slack-webhook-url", "outgoing-webhook-secret"],
} as const satisfies Record<string, readonly SecretPurpose[]>;
export type KeyringService = keyof typeof WORKER_PURPOSES;
export const KEYRING_SERVICES = Object.keys(WORKER_PURPOSES) as KeyringService[];

/** Which master key a secret was sealed under, without revealing anything of it. */
export function masterKeyId(master: Buffer): string {
  return `local:${createHash("sha256").update(master).digest("hex").slice(0, 16)}`;
}

/** The purpose's key: HKDF-SHA256 of the master key; one purpose's key gives nothing of another's. */
export function purposeKey(master: Buffer, purpose: SecretPurpose): Buffer {
  return Buffer.from(hkdfSync("sha256", master, "hoist/secrets/v2", `purpose:${purpose}`, 32));
}

const keyringSchema = z
  .object({
    v: z.literal(1),
    service: z.enum(KEYRING_SERVICES as [KeyringService, ...KeyringService[]]),
    keyId: z.string().regex(/^local:[0-9a-f]{16}$/),
    keys: z.partialRecord(
      z.enum(SECRET_PURPOSES),
      z.string().refine((k) => Buffer.from(k, "base64").length === 32, "a 32-byte key, base64"),
    ),
  })
  .strict();

/** One service's keys: the purposes it may open, under one master key. */
export interface Keyring {
  service: KeyringService;
  keyId: string;
  keys: Partial<Record<SecretPurpose, Buffer>>;
}

export function deriveKeyring(master: Buffer, service: KeyringService): Keyring {
  const keys: Partial<Record<SecretPurpose, Buffer>> = {};
  for (const purpose of WORKER_PURPOSES[service]) keys[purpose] = purposeKey(master, purpose);
  return { service, keyId: masterKeyId(master), keys };
}

/**
 * Writes a keyring file (mode 0600, its directory 0700), replacing any older one at once, owned
 * by `owner` when given (a service that runs as another user than the one writing it).
 */
export function writeKeyring(path: string, keyring: Keyring, owner?: { uid: number; gid: number }): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const keys = Object.fromEntries(Object.entries(keyring.keys).map(([p, k]) => [p, k.toString("base64")]));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ v: 1, service: keyring.service, keyId: keyring.keyId, keys })}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  if (owner) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, path);
}

export function loadKeyring(path: string): Keyring {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SecretError(
      `keyring file ${path} cannot be read (${code ?? "error"}): write it with \`node services/api/dist/keyrings/main.js <service>=${path}\` (pnpm start and docker compose do) and give this service read access`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SecretError(`keyring file ${path} is not JSON: write it again from the master key`);
  }
  const parsed = keyringSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SecretError(
      `keyring file ${path} is not a Hoist keyring (${issue?.path.join(".") || "file"}: ${issue?.message}): write it again from the master key`,
    );
  }
  const keys: Partial<Record<SecretPurpose, Buffer>> = {};
  for (const [p, k] of Object.entries(parsed.data.keys)) if (k) keys[p as SecretPurpose] = Buffer.from(k, "base64");
  return { service: parsed.data.service, keyId: parsed.data.keyId, keys };
}
