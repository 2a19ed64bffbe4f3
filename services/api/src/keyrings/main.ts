import { join } from "node:path";
import { deriveKeyring, loadOrCreateMasterKey, writeKeyring } from "@hoist/shared";
import { parseTargets } from "./targets.js";

// Writes each worker's keyring from the master key (docs/operations.md, security model); run by
// `pnpm start` and by docker compose's `keys` service before the workers start. Idempotent.
try {
  const targets = parseTargets(process.argv.slice(2));
  const dataDir = process.env.HOIST_DATA_DIR ?? join(process.cwd(), ".hoist");
  const master = loadOrCreateMasterKey(process.env.HOIST_MASTER_KEY_FILE ?? join(dataDir, "master.key"));
  for (const t of targets) {
    writeKeyring(t.path, deriveKeyring(master, t.service), t.owner);
    process.stdout.write(`keyrings: wrote the ${t.service}'s keyring to ${t.path}\n`);
  }
} catch (err) {
  process.stderr.write(`keyrings: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(64);
}
