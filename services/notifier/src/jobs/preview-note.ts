import type { GitlabMergeRequests } from "../adapters/gitlab-merge-requests.js";
import { PreviewNoteStore } from "../adapters/preview-note-store.js";
import { TransientDeliveryError } from "../domain/errors.js";
import { type PreviewNoteState, previewNoteBody, previewNoteMarker } from "../domain/preview-note.js";
import type { NotifierDeps } from "./deps.js";

/** How long a job waits for another job writing the same note before it retries later. */
const LOCK_WAIT_MS = 5_000;

interface NoteTarget {
  gitlab: GitlabMergeRequests;
  projectId: number;
  app: string;
  iid: number;
}

/**
 * Writes Hoist's one note on the merge request: edits the note kept in Redis (or found on the MR
 * by its marker, when the id was lost), creates it only when there is none. Under the merge
 * request's lock, so concurrent events make one note; a state older (`at`) than the one the note
 * shows is left out ("stale"), so a late retry never puts "deploying" back over "live".
 */
export async function writePreviewNote(
  deps: Pick<NotifierDeps, "records">,
  t: NoteTarget,
  at: string,
  state: PreviewNoteState,
): Promise<"created" | "edited" | "stale"> {
  const store = new PreviewNoteStore(deps.records.redis, deps.records.keys);
  const token = await store.lock(t.app, t.iid, LOCK_WAIT_MS);
  if (!token) throw new TransientDeliveryError(`another job is writing the preview note of !${t.iid}; trying again`);
  try {
    const stored = await store.get(t.app, t.iid);
    if (stored.at && stored.at > at) return "stale";
    const url = state.kind === "release" ? state.url : undefined;
    const body = previewNoteBody(state.kind === "stopped" && !state.url ? { ...state, url: stored.url } : state);
    const id = stored.id ?? (await t.gitlab.findNote(t.projectId, t.iid, previewNoteMarker(t.app)));
    if (id !== undefined && (await t.gitlab.editNote(t.projectId, t.iid, id, body)) === "edited") {
      await store.set(t.app, t.iid, { id, at, url });
      return "edited";
    }
    const created = await t.gitlab.createNote(t.projectId, t.iid, body);
    await store.set(t.app, t.iid, { id: created, at, url });
    return "created";
  } finally {
    await store.unlock(t.app, t.iid, token);
  }
}
