import { createHash, randomBytes } from "node:crypto";
import { newId, type Redis, recordKeys } from "@hoist/shared";
import { z } from "zod";
import { type Role, roleSchema } from "./roles.js";

/** An API token's record: never the token, only its SHA-256 (under its own key, pointing at the id). */
const storedSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: roleSchema,
  apps: z.string().optional(),
  expiresAt: z.string().optional(),
  createdAt: z.string(),
  owner: z.string().optional(),
  lastUsedAt: z.string().optional(),
});

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  apps?: string[];
  expiresAt?: string;
  createdAt: string;
  /** Who created it: a user's id, or absent for tokens the bootstrap token or a token made. */
  owner?: string;
  lastUsedAt?: string;
}

const TOKEN_PREFIX = "hoist_";
const hashOf = (token: string) => createHash("sha256").update(token).digest("hex");
/** lastUsedAt is written at most once a minute per token: reads do not turn into a write each. */
const LAST_USE_RESOLUTION_MS = 60_000;

/**
 * Personal and service tokens in Redis. Nothing is cached in the process: every request looks
 * its token up, so a revocation (the keys deleted) holds for every API process at once.
 */
export class TokenStore {
  private readonly keys: ReturnType<typeof recordKeys>;
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = recordKeys(prefix);
  }

  async create(input: {
    name: string;
    role: Role;
    apps?: string[];
    expiresAt?: string;
    owner?: string;
  }): Promise<{ record: ApiToken; token: string }> {
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
    const record: ApiToken = { id: newId("tok"), createdAt: new Date().toISOString(), ...input };
    const fields: Record<string, string> = { id: record.id, name: record.name, role: record.role, createdAt: record.createdAt };
    if (record.apps) fields.apps = JSON.stringify(record.apps);
    if (record.expiresAt) fields.expiresAt = record.expiresAt;
    if (record.owner) fields.owner = record.owner;
    const hash = hashOf(token);
    await this.redis
      .multi()
      .hset(this.keys.apiToken(record.id), { ...fields, hash })
      .set(this.keys.apiTokenByHash(hash), record.id)
      .sadd(this.keys.apiTokens, record.id)
      .exec();
    return { record, token };
  }

  /** The live token `token` names, or undefined (unknown, revoked or expired). */
  async verify(token: string, now = Date.now()): Promise<ApiToken | undefined> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    const id = await this.redis.get(this.keys.apiTokenByHash(hashOf(token)));
    if (!id) return undefined;
    const record = await this.live(id, now);
    if (!record) return undefined;
    if (!record.lastUsedAt || now - Date.parse(record.lastUsedAt) >= LAST_USE_RESOLUTION_MS) {
      // Only while the record still exists (a revocation racing this request must not resurrect it).
      await this.redis.eval(
        "if redis.call('exists', KEYS[1]) == 1 then redis.call('hset', KEYS[1], 'lastUsedAt', ARGV[1]) end return 0",
        1,
        this.keys.apiToken(id),
        new Date(now).toISOString(),
      );
    }
    return record;
  }

  async get(id: string): Promise<ApiToken | undefined> {
    const raw = await this.redis.hgetall(this.keys.apiToken(id));
    if (!raw.id) return undefined;
    const s = storedSchema.parse(raw);
    return {
      id: s.id,
      name: s.name,
      role: s.role,
      createdAt: s.createdAt,
      ...(s.apps ? { apps: z.array(z.string()).parse(JSON.parse(s.apps)) } : {}),
      ...(s.expiresAt ? { expiresAt: s.expiresAt } : {}),
      ...(s.owner ? { owner: s.owner } : {}),
      ...(s.lastUsedAt ? { lastUsedAt: s.lastUsedAt } : {}),
    };
  }

  /** The token record `id` while it is neither revoked nor expired (a dashboard session made with it ends with it). */
  async live(id: string, now = Date.now()): Promise<ApiToken | undefined> {
    const record = await this.get(id);
    return record && !(record.expiresAt && Date.parse(record.expiresAt) <= now) ? record : undefined;
  }

  async list(): Promise<ApiToken[]> {
    const ids = await this.redis.smembers(this.keys.apiTokens);
    const all = await Promise.all(ids.sort().map((id) => this.get(id)));
    return all.filter((t): t is ApiToken => t !== undefined);
  }

  /** Deletes the token's keys: from this moment no API process accepts it. False when unknown. */
  async revoke(id: string): Promise<boolean> {
    const hash = await this.redis.hget(this.keys.apiToken(id), "hash");
    if (!hash) return false;
    await this.redis.multi().del(this.keys.apiTokenByHash(hash)).del(this.keys.apiToken(id)).srem(this.keys.apiTokens, id).exec();
    return true;
  }
}
