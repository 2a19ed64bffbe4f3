import type { Records } from "../records/repos.js";
import type { FreezeSpec } from "./freeze-window.js";

/**
 * TEMPORARY (gates): envs' branch replaces this file with the real policy read from the
 * environment's record. Until then every environment needs no approval and has no freeze.
 */
export async function environmentPolicy(
  _records: Records,
  _app: string,
  _envName: string,
): Promise<{ requiredApprovals: number; freezes: FreezeSpec[]; gitlabFreezes: boolean }> {
  return { requiredApprovals: 0, freezes: [], gitlabFreezes: false };
}
