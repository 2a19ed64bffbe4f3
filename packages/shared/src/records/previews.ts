import type { Redis } from "ioredis";
import { decodeHash, encodeFields } from "./codec.js";
import type { RecordKeys } from "./keys.js";
import { canMovePreview, previewInitialStatuses, previewTransitions } from "./lifecycle/previews.js";
import { IllegalTransitionError } from "./lifecycle/table.js";
import { type Preview, type PreviewStatus, previewSchema } from "./schemas.js";

/**
 * One script for every write of a preview, so the record and its place in the app's index (scored
 * by updatedAt) never disagree, and a status change follows the table (lifecycle/previews.ts,
 * serialised here) however callers race. KEYS: record, index. ARGV: mode (create-or-move |
 * move | patch), the table JSON, allowed current statuses JSON ([]: any), the new status JSON
 * ("" for none), score (ms), member (iid), createdAt JSON (set only on creation), fields to
 * remove JSON, field/value pairs. Returns {code, current status JSON, the record's fields}:
 * 1 written, 0 the current status forbids it, -1 missing, -2 not a status a preview starts in.
 */
const WRITE = `
local T = cjson.decode(ARGV[2])
local from = cjson.decode(ARGV[3])
local initial = cjson.decode([=[${JSON.stringify(previewInitialStatuses)}]=])
local function has(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end
local raw = redis.call('HGET', KEYS[1], 'status')
local to = nil
if ARGV[4] ~= '' then to = cjson.decode(ARGV[4]) end
if not raw then
  if ARGV[1] ~= 'create-or-move' then return {-1, ''} end
  if not to or not has(initial, to) then return {-2, ''} end
  redis.call('HSET', KEYS[1], 'createdAt', ARGV[7])
else
  local cur = cjson.decode(raw)
  if #from > 0 and not has(from, cur) then return {0, raw} end
  if to and not has(T[cur] or {}, to) then return {0, raw} end
end
local unset = cjson.decode(ARGV[8])
if #unset > 0 then redis.call('HDEL', KEYS[1], unpack(unset)) end
if #ARGV > 8 then redis.call('HSET', KEYS[1], unpack(ARGV, 9)) end
if to then redis.call('HSET', KEYS[1], 'status', ARGV[4]) end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
return {1, raw or '', redis.call('HGETALL', KEYS[1])}`;

type PreviewWrite =
  | { ok: true; record: Preview /** The status before (undefined: created). */; from?: PreviewStatus }
  | { ok: false; reason: "missing" }
  | { ok: false; reason: "state"; current: PreviewStatus };

type PreviewFields = Omit<Preview, "app" | "iid" | "createdAt" | "updatedAt">;
type OptionalField = "url" | "mrUrl" | "title" | "buildId" | "reason";

const nowMs = () => Date.now();

/**
 * An app's previews, one per merge request (`rec:app:<app>:preview:<iid>`), indexed by last
 * update (`rec:app:<app>:previews`). Keys: records/keys.ts.
 */
export class PreviewRepo {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RecordKeys,
    /** The clock of updatedAt (tests of TTL inject theirs). */
    private readonly now: () => number = nowMs,
  ) {
    redis.defineCommand("hoistPreviewWrite", { numberOfKeys: 2, lua: WRITE });
  }

  async get(app: string, iid: number): Promise<Preview | undefined> {
    const key = this.keys.preview(app, iid);
    return decodeHash(previewSchema, key, await this.redis.hgetall(key));
  }

  /** The app's previews, most recently updated first. */
  async list(app: string, limit = 100): Promise<Preview[]> {
    const iids = await this.redis.zrevrange(this.keys.appPreviews(app), 0, limit - 1);
    if (iids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const iid of iids) pipe.hgetall(this.keys.preview(app, Number(iid)));
    const out: Preview[] = [];
    for (const [i, [err, hash]] of ((await pipe.exec()) ?? []).entries()) {
      if (err) throw err;
      const rec = decodeHash(previewSchema, this.keys.preview(app, Number(iids[i])), hash as Record<string, string>);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** The iids of the app's previews updated before `beforeMs` (least recently updated first): for the TTL. */
  async idleSince(app: string, beforeMs: number): Promise<number[]> {
    return (await this.redis.zrangebyscore(this.keys.appPreviews(app), "-inf", `(${beforeMs}`)).map(Number);
  }

  /**
   * Creates the preview (in `building` or `refused`), or moves an existing one to `fields.status`
   * as the table allows, setting the fields and removing `unset`.
   */
  upsert(app: string, iid: number, fields: PreviewFields, opts: { unset?: OptionalField[] } = {}): Promise<PreviewWrite> {
    return this.write("create-or-move", app, iid, [], fields, opts.unset ?? []);
  }

  /** Moves an existing preview from one of `from` to `fields.status`; throws IllegalTransitionError when the table forbids it. */
  async transition(
    app: string,
    iid: number,
    from: readonly PreviewStatus[],
    fields: Partial<PreviewFields> & { status: PreviewStatus },
    opts: { unset?: OptionalField[] } = {},
  ): Promise<PreviewWrite> {
    const bad = from.filter((f) => !canMovePreview(f, fields.status));
    if (bad.length) throw new IllegalTransitionError(`a preview cannot move from ${bad.join(", ")} to ${fields.status}`);
    return this.write("move", app, iid, from, fields, opts.unset ?? []);
  }

  /** Sets fields other than the status on an existing preview (undefined when there is none). */
  async patch(app: string, iid: number, fields: Partial<Omit<PreviewFields, "status">>, opts: { unset?: OptionalField[] } = {}) {
    const res = await this.write("patch", app, iid, [], fields, opts.unset ?? []);
    return res.ok ? res.record : undefined;
  }

  /** Removes the preview's record and index entry; false when there was none. */
  async delete(app: string, iid: number): Promise<boolean> {
    const [[, removed] = [null, 0]] =
      (await this.redis.multi().del(this.keys.preview(app, iid)).zrem(this.keys.appPreviews(app), String(iid)).exec()) ?? [];
    return removed === 1;
  }

  private async write(
    mode: "create-or-move" | "move" | "patch",
    app: string,
    iid: number,
    from: readonly PreviewStatus[],
    fields: Partial<PreviewFields>,
    unset: OptionalField[],
  ): Promise<PreviewWrite> {
    const now = this.now();
    const updatedAt = new Date(now).toISOString();
    const { status, ...rest } = fields;
    // Validated before anything is stored: the whole record as it would be on creation.
    previewSchema.partial().parse({ ...rest, app, iid, updatedAt, ...(status ? { status } : {}) });
    const key = this.keys.preview(app, iid);
    const [code, raw, flat = []] = (await (
      this.redis as unknown as { hoistPreviewWrite: (...args: (string | number)[]) => Promise<[number, string, string[]?]> }
    ).hoistPreviewWrite(
      key,
      this.keys.appPreviews(app),
      mode,
      JSON.stringify(previewTransitions),
      JSON.stringify(from),
      status ? JSON.stringify(status) : "",
      now,
      String(iid),
      JSON.stringify(updatedAt),
      JSON.stringify(unset),
      ...encodeFields({ ...rest, app, iid, updatedAt }),
    )) as [number, string, string[]?];
    if (code === -1) return { ok: false, reason: "missing" };
    if (code === -2)
      throw new IllegalTransitionError(`a preview starts ${previewInitialStatuses.join(" or ")}, not ${status ?? "without a status"}`);
    if (code === 0) return { ok: false, reason: "state", current: JSON.parse(raw) as PreviewStatus };
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
    const record = decodeHash(previewSchema, key, hash) as Preview;
    return raw ? { ok: true, record, from: JSON.parse(raw) as PreviewStatus } : { ok: true, record };
  }
}
