import { randomBytes } from "node:crypto";
import { type Redis, recordKeys } from "@hoist/shared";

export const SESSION_COOKIE = "hoist_session";
const SESSION_TTL_S = 12 * 3600;

export interface Session {
  id: string;
  csrf: string;
}

/**
 * Dashboard sessions live in Redis, so any API replica serves any signed-in operator. The key is
 * the SHA-256 of the session id (the cookie holds the id itself): whoever reads Redis (a backup,
 * a service's user, KEYS) learns no cookie that signs in, and a key named after a chosen id is
 * not a session for that id.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string) {
    return recordKeys(this.prefix).session(id);
  }

  async create(): Promise<Session> {
    const session = { id: randomBytes(32).toString("base64url"), csrf: randomBytes(24).toString("base64url") };
    await this.redis.set(this.key(session.id), JSON.stringify({ csrf: session.csrf }), "EX", SESSION_TTL_S);
    return session;
  }

  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const raw = await this.redis.get(this.key(id));
    if (!raw) return undefined;
    const { csrf } = JSON.parse(raw) as { csrf: string };
    return { id, csrf };
  }

  async destroy(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** HttpOnly always; SameSite=Strict so no other site can make the browser send it; Secure over https. */
export function sessionCookie(value: string, secure: boolean, maxAge = SESSION_TTL_S): string {
  return [
    `${SESSION_COOKIE}=${encodeURIComponent(value)}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${maxAge}`,
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}
