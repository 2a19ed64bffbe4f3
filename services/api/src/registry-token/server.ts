import { createServer, type IncomingMessage, type Server } from "node:http";
import { type Logger, registryPasswordMatches } from "@hoist/shared";
import { z } from "zod";
import { type GrantPolicy, grant, parseScopes } from "./grants.js";
import { type Signer, signToken } from "./jwt.js";

interface TokenServiceOptions {
  secret: string;
  signer: Signer;
  service: string;
  issuer: string;
  ttlS: number;
  policy: GrantPolicy;
  log: Logger;
}

const querySchema = z.object({
  service: z.string().min(1, "service= is required"),
  scope: z.array(z.string().max(1024)).max(32, "at most 32 scopes"),
});

const error = (code: string, message: string) => ({ errors: [{ code, message }] });

/** `undefined` without credentials (an anonymous token), `null` for a malformed header. */
function basicAuth(req: IncomingMessage): { user: string; password: string } | undefined | null {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(h);
  if (!m) return null;
  const text = Buffer.from(m[1] as string, "base64").toString("utf8");
  const colon = text.indexOf(":");
  return colon < 1 ? null : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * The Docker registry token endpoint (GET /registry/token): Basic credentials in, a signed JWT
 * out whose `access` holds only what the user may do. Scopes outside the grant are not an error
 * (the spec): the token lacks those actions and the registry answers 401/denied.
 */
function answerTokenRequest(o: TokenServiceOptions, req: IncomingMessage): Answer {
  const url = new URL(req.url ?? "/", "http://token");
  if (url.pathname === "/healthz") return { status: 200, body: { status: "ok" } };
  if (url.pathname !== "/registry/token") return { status: 404, body: error("NOT_FOUND", "the token endpoint is GET /registry/token") };
  if (req.method !== "GET") return { status: 405, body: error("UNSUPPORTED", "use GET"), headers: { allow: "GET" } };
  const q = querySchema.safeParse({ service: url.searchParams.get("service") ?? undefined, scope: url.searchParams.getAll("scope") });
  if (!q.success) return { status: 400, body: error("INVALID_REQUEST", q.error.issues[0]?.message ?? "bad query") };
  if (q.data.service !== o.service) {
    return { status: 400, body: error("INVALID_REQUEST", `this token service serves ${o.service}, not ${q.data.service}`) };
  }
  const creds = basicAuth(req);
  if (creds === null) return { status: 400, body: error("INVALID_REQUEST", "Authorization must be Basic base64(user:password)") };
  if (creds && !registryPasswordMatches(o.secret, creds.user, creds.password)) {
    o.log.warn({ user: creds.user }, "registry token refused: wrong password or unknown user");
    return {
      status: 401,
      body: error("UNAUTHORIZED", "wrong user name or password"),
      headers: { "www-authenticate": 'Basic realm="hoist registry"' },
    };
  }
  const access = grant(creds?.user, parseScopes(q.data.scope), o.policy);
  const now = Math.floor(Date.now() / 1000);
  const token = signToken(o.signer, {
    issuer: o.issuer,
    service: o.service,
    subject: creds?.user ?? "",
    access,
    issuedAt: now,
    expiresIn: o.ttlS,
  });
  o.log.debug({ user: creds?.user ?? "(anonymous)", access }, "registry token issued");
  return { status: 200, body: { token, access_token: token, expires_in: o.ttlS, issued_at: new Date(now * 1000).toISOString() } };
}

export function createTokenServer(o: TokenServiceOptions): Server {
  return createServer((req, res) => {
    const a = answerTokenRequest(o, req);
    res.writeHead(a.status, { "content-type": "application/json", "cache-control": "no-store", ...a.headers });
    res.end(JSON.stringify(a.body));
  });
}
