import { createHash, createSign, generateKeyPairSync, randomBytes } from "node:crypto";
import type { Request, Response } from "express";
import { projectFor } from "./projects.js";
import { notFound, type RootModule, type RouteModule } from "./server.js";
import type { GitlabOauthApp, GitlabState } from "./state.js";

/**
 * GitLab as an OAuth 2 provider and OpenID Connect identity provider, as GitLab documents them
 * (https://docs.gitlab.com/api/oauth2/, https://docs.gitlab.com/integration/openid_connect_provider/):
 * discovery, /oauth/authorize (a sign-in form standing for GitLab's, then the redirect with a
 * code), /oauth/token (authorization_code with PKCE, client_secret_basic or client_secret_post),
 * /oauth/userinfo and the signing keys. Strict: unknown clients, unregistered redirect URIs,
 * missing or wrong PKCE, reused or expired codes, wrong secrets and missing scopes are refused.
 */
const CODE_TTL_MS = 10 * 60_000;
const TOKEN_TTL_S = 7200;
const SCOPES = ["openid", "profile", "email", "read_user", "api"];

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const KID = createHash("sha256")
  .update(publicKey.export({ type: "spki", format: "der" }))
  .digest("base64url")
  .slice(0, 43);
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

function signJwt(claims: Record<string, unknown>): string {
  const head = `${b64url({ typ: "JWT", kid: KID, alg: "RS256" })}.${b64url(claims)}`;
  return `${head}.${createSign("RSA-SHA256").update(head).sign(privateKey).toString("base64url")}`;
}

const param = (req: Request, name: string): string | undefined => {
  const v = req.method === "GET" ? req.query[name] : (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === "string" && v !== "" ? v : undefined;
};

/** GitLab's JSON error of the token endpoint (Doorkeeper's shape). */
function oauthError(res: Response, status: number, error: string, description: string): void {
  res.status(status).json({ error, error_description: description });
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The authorization request's checks; an error page (not a redirect) for an unknown client or redirect URI, as GitLab. */
function checkAuthorize(
  state: GitlabState,
  req: Request,
  res: Response,
): { app: GitlabOauthApp; redirectUri: string; scopes: string[] } | undefined {
  const app = state.oauthApps.find((a) => a.uid === param(req, "client_id"));
  const redirectUri = param(req, "redirect_uri");
  if (!app || !redirectUri || !app.redirectUris.includes(redirectUri)) {
    res
      .status(400)
      .type("html")
      .send(
        "<h1>An error has occurred</h1><p>Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method. Or: the redirect uri included is not valid.</p>",
      );
    return undefined;
  }
  const fail = (error: string, description: string) => {
    const to = new URL(redirectUri);
    to.searchParams.set("error", error);
    to.searchParams.set("error_description", description);
    const st = param(req, "state");
    if (st) to.searchParams.set("state", st);
    res.redirect(302, to.href);
    return undefined;
  };
  if (param(req, "response_type") !== "code")
    return fail("unsupported_response_type", "The authorization server does not support this response type.");
  const scopes = (param(req, "scope") ?? "").split(" ").filter(Boolean);
  if (scopes.length === 0 || scopes.some((s) => !app.scopes.includes(s) || !SCOPES.includes(s)))
    return fail("invalid_scope", "The requested scope is invalid, unknown, or malformed.");
  const method = param(req, "code_challenge_method");
  if (param(req, "code_challenge") && method !== "S256" && method !== "plain")
    return fail("invalid_request", "The code challenge method must be plain or S256.");
  return { app, redirectUri, scopes };
}

export const oauthRoutes: RootModule = (app, state, { baseUrl }) => {
  app.get("/.well-known/openid-configuration", (_req, res) => {
    const base = baseUrl();
    res.json({
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      revocation_endpoint: `${base}/oauth/revoke`,
      introspection_endpoint: `${base}/oauth/introspect`,
      userinfo_endpoint: `${base}/oauth/userinfo`,
      jwks_uri: `${base}/oauth/discovery/keys`,
      scopes_supported: SCOPES,
      response_types_supported: ["code"],
      response_modes_supported: ["query", "fragment", "form_post"],
      grant_types_supported: ["authorization_code", "password", "client_credentials", "device_code", "refresh_token"],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
      claim_types_supported: ["normal"],
      claims_supported: [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "sub_legacy",
        "name",
        "nickname",
        "preferred_username",
        "email",
        "email_verified",
        "website",
        "profile",
        "picture",
        "groups",
        "groups_direct",
        "https://gitlab.org/claims/groups/owner",
        "https://gitlab.org/claims/groups/maintainer",
        "https://gitlab.org/claims/groups/developer",
      ],
      code_challenge_methods_supported: ["plain", "S256"],
    });
  });

  app.get("/oauth/discovery/keys", (_req, res) => {
    res.json({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: KID, use: "sig", alg: "RS256" }] });
  });

  // GitLab's sign-in page stands here: the browser posts the user's name and password with the request's parameters.
  app.get("/oauth/authorize", (req, res) => {
    if (!checkAuthorize(state, req, res)) return;
    const hidden = Object.entries(req.query)
      .filter((e): e is [string, string] => typeof e[1] === "string")
      .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
      .join("");
    res.type("html").send(`<!doctype html><title>Sign in · GitLab</title><form method="post" action="/oauth/authorize">${hidden}
<label>Username <input name="username" id="user_login"></label><label>Password <input type="password" name="password" id="user_password"></label>
<button type="submit" name="commit">Sign in</button></form>`);
  });

  app.post("/oauth/authorize", (req, res) => {
    const ok = checkAuthorize(state, req, res);
    if (!ok) return;
    const user = state.users.find((u) => u.username === param(req, "username"));
    if (!user || state.passwords.get(user.id) !== param(req, "password")) {
      res.status(401).type("html").send("<p>Invalid login or password.</p>");
      return;
    }
    const code = randomBytes(32).toString("hex");
    const challenge = param(req, "code_challenge");
    const nonce = param(req, "nonce");
    state.oauthGrants.push({
      code,
      appUid: ok.app.uid,
      userId: user.id,
      redirectUri: ok.redirectUri,
      scopes: ok.scopes,
      ...(challenge
        ? { codeChallenge: challenge, codeChallengeMethod: param(req, "code_challenge_method") === "S256" ? "S256" : "plain" }
        : {}),
      ...(nonce ? { nonce } : {}),
      expiresAt: Date.now() + CODE_TTL_MS,
    });
    const to = new URL(ok.redirectUri);
    to.searchParams.set("code", code);
    const st = param(req, "state");
    if (st) to.searchParams.set("state", st);
    res.redirect(302, to.href);
  });

  app.post("/oauth/token", (req, res) => {
    res.set("cache-control", "no-store");
    // client_secret_basic (form-encoded id and secret in Basic) or client_secret_post; not both.
    const basic = /^Basic (.+)$/.exec(req.get("authorization") ?? "")?.[1];
    let id = param(req, "client_id");
    let secret = param(req, "client_secret");
    if (basic) {
      if (secret) return oauthError(res, 400, "invalid_request", "The request uses more than one mechanism for authenticating the client.");
      const [u, p] = Buffer.from(basic, "base64").toString("utf8").split(":");
      id = decodeURIComponent(u ?? "");
      secret = decodeURIComponent(p ?? "");
    }
    const client = state.oauthApps.find((a) => a.uid === id && a.secret === secret);
    if (!client)
      return oauthError(
        res,
        401,
        "invalid_client",
        "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
      );
    if (param(req, "grant_type") !== "authorization_code")
      return oauthError(res, 400, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.");
    const code = param(req, "code");
    const grant = state.oauthGrants.find((g) => g.code === code);
    // A code is used once: it is gone whatever happens next.
    state.oauthGrants = state.oauthGrants.filter((g) => g !== grant);
    const invalid = () =>
      oauthError(
        res,
        400,
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
      );
    if (!grant || grant.appUid !== client.uid || grant.expiresAt < Date.now() || grant.redirectUri !== param(req, "redirect_uri"))
      return invalid();
    if (grant.codeChallenge) {
      const verifier = param(req, "code_verifier");
      if (!verifier) return oauthError(res, 400, "invalid_request", "Missing required parameter: code_verifier.");
      const computed = grant.codeChallengeMethod === "S256" ? createHash("sha256").update(verifier).digest("base64url") : verifier;
      if (computed !== grant.codeChallenge) return invalid();
    }
    const token = randomBytes(32).toString("hex");
    state.oauthTokens.push({
      token,
      userId: grant.userId,
      appUid: client.uid,
      scopes: grant.scopes,
      expiresAt: Date.now() + TOKEN_TTL_S * 1000,
    });
    const now = Math.floor(Date.now() / 1000);
    res.json({
      access_token: token,
      token_type: "Bearer",
      expires_in: TOKEN_TTL_S,
      refresh_token: randomBytes(32).toString("hex"),
      scope: grant.scopes.join(" "),
      created_at: now,
      ...(grant.scopes.includes("openid")
        ? {
            id_token: signJwt({
              iss: baseUrl(),
              sub: String(grant.userId),
              aud: client.uid,
              exp: now + 120,
              iat: now,
              auth_time: now,
              sub_legacy: createHash("sha256").update(String(grant.userId)).digest("hex"),
              ...(grant.nonce ? { nonce: grant.nonce } : {}),
            }),
          }
        : {}),
    });
  });

  const userinfo = (req: Request, res: Response) => {
    const bearer = /^Bearer (.+)$/.exec(req.get("authorization") ?? "")?.[1];
    const t = state.oauthTokens.find((x) => x.token === bearer && x.expiresAt > Date.now());
    if (!t?.scopes.includes("openid")) {
      res
        .set("www-authenticate", 'Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"')
        .status(401)
        .json({ error: "invalid_token", error_description: "The access token is invalid" });
      return;
    }
    const u = state.users.find((x) => x.id === t.userId);
    if (!u) return notFound(res, "User");
    res.json({
      sub: String(u.id),
      sub_legacy: createHash("sha256").update(String(u.id)).digest("hex"),
      name: u.name,
      nickname: u.username,
      preferred_username: u.username,
      ...(t.scopes.includes("email") ? { email: `${u.username}@example.test`, email_verified: true } : {}),
      website: "",
      profile: `${baseUrl()}/${u.username}`,
      picture: "",
      groups: [],
    });
  };
  app.get("/oauth/userinfo", userinfo);
  app.post("/oauth/userinfo", userinfo);
};

/**
 * GET /projects/:id/members/all/:user_id: a member's effective access level, inherited and invited
 * memberships included (https://docs.gitlab.com/api/members/#get-a-member-of-a-group-or-project-including-inherited-and-invited-members).
 */
export const memberRoutes: RouteModule = (router, state) => {
  router.get("/projects/:id/members/all/:userId", (req, res) => {
    const project = projectFor(state, req, res);
    if (!project) return;
    const m = state.members.find((x) => x.project_id === project.id && x.user_id === Number(req.params.userId));
    const u = state.users.find((x) => x.id === Number(req.params.userId));
    if (!m || !u) {
      res.status(404).json({ message: "404 Not found" });
      return;
    }
    res.json({
      id: u.id,
      username: u.username,
      name: u.name,
      state: u.state,
      access_level: m.access_level,
      created_at: new Date(0).toISOString(),
      expires_at: null,
    });
  });
};
