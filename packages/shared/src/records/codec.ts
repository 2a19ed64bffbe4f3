import type { z } from "zod";

class RecordCorruptError extends Error {
  override name = "RecordCorruptError";
}

/** Each top-level field is one hash field holding its JSON, so single fields can be updated in place. */
export function encodeFields(record: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out.push(k, JSON.stringify(v));
  return out;
}

export function decodeHash<S extends z.ZodType>(schema: S, key: string, hash: Record<string, string>): z.infer<S> | undefined {
  if (Object.keys(hash).length === 0) return undefined;
  const obj: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hash)) {
    try {
      obj[k] = JSON.parse(v);
    } catch {
      throw new RecordCorruptError(`record ${key} field ${k} is not JSON`);
    }
  }
  const parsed = schema.safeParse(obj);
  if (!parsed.success)
    throw new RecordCorruptError(
      `record ${key} does not match its schema: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return parsed.data;
}
