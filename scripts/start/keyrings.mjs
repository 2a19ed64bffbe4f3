// Each worker gets a keyring (the keys of the secrets it may open), never the master key: written
// from the master key (created here on a first run) before the workers start. docs/operations.md.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** Env per worker: HOIST_KEYRING_FILE in, HOIST_MASTER_KEY_FILE out. Nothing on KMS (IAM does it there). */
export async function workerKeyrings(root, env) {
  if ((env.HOIST_KMS ?? "local") !== "local") return {};
  const shared = await import(pathToFileURL(join(root, "packages/shared/dist/index.js")).href);
  const master = shared.loadOrCreateMasterKey(env.HOIST_MASTER_KEY_FILE ?? join(env.HOIST_DATA_DIR, "master.key"));
  const out = {};
  for (const service of shared.KEYRING_SERVICES) {
    const file = join(env.HOIST_DATA_DIR, "keyrings", `${service}.json`);
    shared.writeKeyring(file, shared.deriveKeyring(master, service));
    out[service] = file;
  }
  return out;
}
