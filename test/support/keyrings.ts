import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { deriveKeyring, KEYRING_SERVICES, type KeyringService, loadOrCreateMasterKey, writeKeyring } from "@hoist/shared";

const isKeyringService = (name: string): name is KeyringService => (KEYRING_SERVICES as string[]).includes(name);

/**
 * The env that makes a worker hold its keyring instead of the master key a test gave it (or the
 * one in its data dir): the keyring is written beside the master key, and startService drops
 * HOIST_MASTER_KEY_FILE. A test that sets HOIST_KEYRING_FILE itself, or runs on KMS, is left alone.
 */
export function asKeyringHolder(service: string, env: Record<string, string>): Record<string, string> | undefined {
  if (!isKeyringService(service) || env.HOIST_KEYRING_FILE || (env.HOIST_KMS ?? "local") !== "local") return undefined;
  const masterFile = env.HOIST_MASTER_KEY_FILE || (env.HOIST_DATA_DIR ? join(env.HOIST_DATA_DIR, "master.key") : undefined);
  if (!masterFile) return undefined;
  let master: Buffer;
  try {
    master = loadOrCreateMasterKey(masterFile);
  } catch {
    return undefined; // a test of an unreadable or malformed master key: the worker says so itself
  }
  const file = join(dirname(masterFile), "keyrings", `${service}-${randomBytes(3).toString("hex")}.json`);
  writeKeyring(file, deriveKeyring(master, service));
  return { HOIST_KEYRING_FILE: file };
}
