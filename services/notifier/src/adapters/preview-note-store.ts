import { randomUUID } from "node:crypto";
import type { RecordKeys, Redis } from "@hoist/shared";

/** Kept while the merge request may still change (a lost id is found again by the note's marker). */
const NOTE_TTL_S = 90 * 24 * 3600;
/** Longer than one note write can take (a list, an edit and a create, each within GitLab's timeout). */
const LOCK_MS = 60_000;

interface StoredPreviewNote {
  id?: number;
  /** When the state the note shows happened (ISO): an older state never overwrites a newer one. */
  at?: string;
  /** The preview's last URL, for the notice that it was stopped. */
  url?: string;
}

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * What the notifier keeps about its note on merge request `!iid` of an app (records/keys.ts
 * previewNote), and the per-merge-request lock every write of that note holds (previewNoteGuard):
 * with it, two events at once neither post two notes nor leave the older state on top.
 */
export class PreviewNoteStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Pick<RecordKeys, "previewNote" | "previewNoteGuard">,
  ) {}

  async get(app: string, iid: number): Promise<StoredPreviewNote> {
    const h = await this.redis.hgetall(this.keys.previewNote(app, iid));
    return {
      ...(h.id && /^\d+$/.test(h.id) ? { id: Number(h.id) } : {}),
      ...(h.at ? { at: h.at } : {}),
      ...(h.url ? { url: h.url } : {}),
    };
  }

  async set(app: string, iid: number, note: StoredPreviewNote): Promise<void> {
    const key = this.keys.previewNote(app, iid);
    const fields = Object.entries(note).flatMap(([k, v]) => (v === undefined ? [] : [k, String(v)]));
    await this.redis
      .multi()
      .hset(key, ...fields)
      .expire(key, NOTE_TTL_S)
      .exec();
  }

  /** Takes the merge request's note lock, waiting up to `waitMs` for another job's; undefined if it is still held. */
  async lock(app: string, iid: number, waitMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const until = Date.now() + waitMs;
    for (;;) {
      if ((await this.redis.set(this.keys.previewNoteGuard(app, iid), token, "PX", LOCK_MS, "NX")) === "OK") return token;
      if (Date.now() >= until) return undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async unlock(app: string, iid: number, token: string): Promise<void> {
    await this.redis.eval(UNLOCK, 1, this.keys.previewNoteGuard(app, iid), token);
  }
}
