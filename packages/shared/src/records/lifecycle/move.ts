import type { Redis } from "ioredis";
import type { z } from "zod";
import { decodeHash, encodeFields } from "../codec.js";
import type { RecordKeys } from "../keys.js";
import { lifecycleScripts, scriptContext } from "./scripts.js";
import { assertMove, type RecordKind, type StatusOf } from "./table.js";

export type TransitionResult<T> =
  | { ok: true; from: string; record: T /** Notify jobs written to the outbox, for NotifyOutbox.send. */; outbox: string[] }
  | { ok: false; reason: "missing" }
  | { ok: false; reason: "state"; current: string };

export class LockLostError extends Error {
  override name = "LockLostError";
}

/**
 * Moves a record's status from one of `from` to `fields.status` in one script: the table
 * (table.ts) is checked here and again inside the script, the fields are set, and the notify jobs
 * of the new status are written to the outbox. With `lock`, only while the lock holds its token.
 */
export async function moveRecord<K extends RecordKind, S extends z.ZodType<Record<string, unknown>>>(
  redis: Redis,
  keys: RecordKeys,
  kind: K,
  schema: S,
  id: string,
  from: readonly StatusOf<K>[],
  fields: Record<string, unknown> & { status: StatusOf<K> },
  lock?: { key: string; token: string },
): Promise<TransitionResult<z.infer<S>>> {
  assertMove(kind, from, fields.status);
  const key = kind === "build" ? keys.build(id) : keys.release(id);
  const { status, ...rest } = fields;
  const [code, cur, flat = [], outbox = []] = await lifecycleScripts(redis).move(
    [key, keys.notifyOutbox, lock?.key ?? key],
    scriptContext(keys, lock?.token),
    JSON.stringify({ kind, id, to: status, from, set: encodeFields(rest) }),
  );
  if (code === -2) throw new LockLostError(`lost the deploy lock before ${kind} ${id} could move to ${status}`);
  if (code === -1) return { ok: false, reason: "missing" };
  if (code === 0) return { ok: false, reason: "state", current: JSON.parse(cur) as string };
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
  const record = decodeHash(schema, key, hash) as z.infer<S>;
  return { ok: true, from: JSON.parse(cur) as string, record, outbox };
}
