import type { Redis } from "ioredis";
import type { z } from "zod";
import { decodeHash, encodeFields } from "./codec.js";
import { type RecordScripts, recordScripts } from "./scripts.js";

export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** Typed access to records kept as Redis hashes, one JSON value per field. */
export class HashRepo<S extends z.ZodType<Record<string, unknown>>> {
  protected readonly scripts: RecordScripts;

  constructor(
    protected readonly redis: Redis,
    protected readonly schema: S,
    private readonly keyOf: (id: string) => string,
    private readonly label: string,
  ) {
    this.scripts = recordScripts(redis);
  }

  key(id: string): string {
    return this.keyOf(id);
  }

  async get(id: string): Promise<z.infer<S> | undefined> {
    const key = this.keyOf(id);
    return decodeHash(this.schema, key, await this.redis.hgetall(key));
  }

  async require(id: string): Promise<z.infer<S>> {
    const rec = await this.get(id);
    if (!rec) throw new NotFoundError(`${this.label} ${id} not found`);
    return rec;
  }

  async getMany(ids: string[]): Promise<z.infer<S>[]> {
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.keyOf(id));
    const results = (await pipe.exec()) ?? [];
    const out: z.infer<S>[] = [];
    results.forEach(([err, hash], i) => {
      if (err) throw err;
      const rec = decodeHash(this.schema, this.keyOf(ids[i] ?? ""), hash as Record<string, string>);
      if (rec) out.push(rec);
    });
    return out;
  }

  /** Sets the given fields on an existing record; false when it does not exist. */
  async patch(id: string, fields: Partial<z.infer<S>>): Promise<boolean> {
    const enc = encodeFields(fields as Record<string, unknown>);
    if (enc.length === 0) return (await this.redis.exists(this.keyOf(id))) === 1;
    return (await this.scripts.patchExisting(this.keyOf(id), ...enc)) === 1;
  }

  /** A field as stored (its JSON), for compareAndSet; undefined when absent. */
  async rawField(id: string, field: keyof z.infer<S> & string): Promise<string | undefined> {
    return (await this.redis.hget(this.keyOf(id), field)) ?? undefined;
  }

  /**
   * Sets `field` to `next` (undefined removes it), with `also`, only while it is still stored as
   * `expectedRaw` (from rawField; undefined: absent), so two read-modify-writes of one field
   * cannot lose one. "changed" means another writer came first: read again and retry.
   */
  async compareAndSet<K extends keyof z.infer<S> & string>(
    id: string,
    field: K,
    expectedRaw: string | undefined,
    next: z.infer<S>[K] | undefined,
    also: Partial<z.infer<S>> = {},
  ): Promise<"set" | "changed" | "missing"> {
    const out = await this.scripts.compareAndSet(
      this.keyOf(id),
      field,
      expectedRaw ?? "",
      next === undefined ? "" : JSON.stringify(next),
      ...encodeFields(also as Record<string, unknown>),
    );
    return out === 1 ? "set" : out === 0 ? "changed" : "missing";
  }

  /** Removes optional fields (e.g. a cleared reason). */
  async unset(id: string, fields: (keyof z.infer<S> & string)[]): Promise<void> {
    if (fields.length) await this.redis.hdel(this.keyOf(id), ...fields);
  }
}
