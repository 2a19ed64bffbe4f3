import type { PreviewStatus } from "../schemas.js";

/**
 * Every allowed status change of a preview (records/previews.ts checks it in TypeScript and inside
 * its write script). A newer commit on the MR starts `building` again from any status but
 * `stopping`; a teardown may begin from any status, and a teardown begun again (a crash mid-way)
 * is `stopping` → `stopping`. A stopped preview builds again when its MR is reopened.
 */
export const previewTransitions = {
  building: ["building", "deploying", "failed", "refused", "stopping"],
  deploying: ["building", "deploying", "live", "failed", "stopping"],
  live: ["building", "deploying", "failed", "stopping"],
  failed: ["building", "stopping"],
  refused: ["building", "refused", "stopping"],
  stopping: ["stopping", "stopped"],
  stopped: ["building", "refused"],
} as const satisfies Record<PreviewStatus, readonly PreviewStatus[]>;

/** The statuses a preview record may be created in: building its first commit, or refused at once. */
export const previewInitialStatuses = ["building", "refused"] as const satisfies readonly PreviewStatus[];

export function canMovePreview(from: PreviewStatus, to: PreviewStatus): boolean {
  return (previewTransitions[from] as readonly PreviewStatus[]).includes(to);
}
