import { randomBytes } from "node:crypto";
import { type Redis, recordKeys } from "@hoist/shared";
import { z } from "zod";

export const SESSION_COOKIE = "hoist_session";
const SESSION_TTL_S = 12 * 3600;

/** Who signed in: the bootstrap token, an API token (by id: revoking it ends the session), or a GitLab user. */
const signedInSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("bootstrap") }),
  z.object({ kind: z.literal("token"), id: z.string() }),
  z.object({ kind: z.literal("user"), id: z.string(), name: z.string() }),
]);
export type SignedIn = z.infer<typeof signedInSchema>;

export interface Session {
  id: string;
  csrf: string;
  who: SignedIn;
}

const storedSchema = z.object({ csrf: z.string(), who: signedInSchema });

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

  async create(who: SignedIn): Promise<Session> {
    const session = { id: randomBytes(32).toString("base64url"), csrf: randomBytes(24).toString("base64url"), who };
    await this.redis.set(this.key(session.id), JSON.stringify({ csrf: session.csrf, who }), "EX", SESSION_TTL_S);
    return session;
  }

  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const raw = await this.redis.get(this.key(id));
    if (!raw) return undefined;
    // A session from before sign-in said who (no `who`) is no session: sign in again.
    const stored = storedSchema.safeParse(JSON.parse(raw));
    return stored.success ? { id, ...stored.data } : undefined;
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
