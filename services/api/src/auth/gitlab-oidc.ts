import { type Redis, recordKeys } from "@hoist/shared";
import * as oidc from "openid-client";
import { z } from "zod";

interface OidcSettings {
  /** The GitLab instance: its OpenID Connect issuer (discovery at /.well-known/openid-configuration). */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Where GitLab sends the browser back: `${HOIST_PUBLIC_URL}/login/gitlab/callback`, registered in GitLab. */
  redirectUri: string;
}

/** What Hoist keeps of a GitLab user who signed in. */
interface GitlabPerson {
  /** GitLab's user id (the ID token's `sub`). */
  id: string;
  username: string;
  name?: string;
  email?: string;
}

const pendingSchema = z.object({ verifier: z.string(), nonce: z.string() });
const PENDING_TTL_S = 600;
const SCOPE = "openid profile email";

/**
 * Sign-in with GitLab: OAuth 2 authorization code with PKCE (S256) and OpenID Connect, through
 * openid-client. The PKCE verifier and nonce of a sign-in in flight wait in Redis under the
 * SHA-256 of its `state` (so any API replica finishes it), and each is used once.
 */
export class GitlabSignIn {
  private config?: Promise<oidc.Configuration>;
  private readonly keys: ReturnType<typeof recordKeys>;

  constructor(
    private readonly settings: OidcSettings,
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = recordKeys(prefix);
  }

  private discover(): Promise<oidc.Configuration> {
    if (!this.config) {
      const { url, clientId, clientSecret } = this.settings;
      // Plain http only ever for a GitLab on loopback (config.ts refuses any other http URL).
      const insecure = url.startsWith("http://") ? { execute: [oidc.allowInsecureRequests] } : {};
      this.config = oidc.discovery(new URL(url), clientId, clientSecret, oidc.ClientSecretBasic(clientSecret), insecure);
      // A failed discovery is tried again on the next sign-in, not kept.
      this.config.catch(() => {
        this.config = undefined;
      });
    }
    return this.config;
  }

  /** The URL of GitLab's authorization page for a new sign-in, and its state (for the browser's cookie). */
  async start(): Promise<{ url: string; state: string }> {
    const config = await this.discover();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    await this.redis.set(this.keys.oauthState(state), JSON.stringify({ verifier, nonce }), "EX", PENDING_TTL_S);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.settings.redirectUri,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    return { url: url.href, state };
  }

  /**
   * Finishes a sign-in from GitLab's redirect (`callbackUrl`, with its code and state): the code
   * exchanged with the PKCE verifier, the ID token checked (issuer, audience, nonce, signature),
   * and the user read from /oauth/userinfo. Throws when anything does not check out.
   */
  async finish(callbackUrl: URL, state: string): Promise<GitlabPerson> {
    const raw = await this.redis.getdel(this.keys.oauthState(state));
    if (!raw) throw new Error("this sign-in is unknown or expired (each may be used once, within 10 minutes); start again");
    const pending = pendingSchema.parse(JSON.parse(raw));
    const config = await this.discover();
    const tokens = await oidc.authorizationCodeGrant(
      config,
      callbackUrl,
      { pkceCodeVerifier: pending.verifier, expectedState: state, expectedNonce: pending.nonce, idTokenExpected: true },
      { redirect_uri: this.settings.redirectUri },
    );
    const sub = tokens.claims()?.sub;
    if (!sub) throw new Error("GitLab's ID token names no user");
    const info = await oidc.fetchUserInfo(config, tokens.access_token, sub);
    const username = info.preferred_username ?? info.nickname;
    if (!username) throw new Error("GitLab's userinfo has no username (grant the application the profile scope)");
    return { id: sub, username, ...(info.name ? { name: info.name } : {}), ...(info.email ? { email: info.email } : {}) };
  }
}
