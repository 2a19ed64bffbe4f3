import { execFileSync } from "node:child_process";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Signer, signerFrom, signToken } from "../../services/api/src/registry-token/jwt.js";
import { registryToken, requestToken, testRegistryAuth } from "../support/registry/auth.js";

/**
 * The token service scripts/services-up.sh runs (this directory's main.ts) and the registry that
 * trusts it (distribution 2.8 with auth.token), over real HTTP.
 */
const registry = () => process.env.HOIST_TEST_REGISTRY as string;
const claims = (token: string) =>
  JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString("utf8")) as {
    sub: string;
    aud: string;
    exp: number;
    access: { type: string; name: string; actions: string[] }[];
  };
const tagsWith = (repo: string, token: string) =>
  fetch(`http://${registry()}/v2/${repo}/tags/list`, { headers: { authorization: `Bearer ${token}` } });

/** The suite's real signer (the key and certificate services-up.sh made beside the secret). */
function realSigner(): Signer {
  const dir = dirname(process.env.HOIST_REGISTRY_SECRET_FILE as string);
  return signerFrom(createPrivateKey(readFileSync(join(dir, "signing.key"))), readFileSync(join(dir, "signing.crt"), "utf8"));
}

describe("the registry token service", () => {
  const tmp = mkdtempSync(join(tmpdir(), "hoist-forged-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("answers a wrong password or an unknown user with 401, and never echoes the password", async () => {
    const wrong = await requestToken({ user: "app-shop", password: "not-the-password", scopes: ["repository:shop:pull"] });
    expect(wrong.status).toBe(401);
    const body = await wrong.text();
    expect(body).toContain("wrong user name or password");
    expect(body).not.toContain("not-the-password");
    const stranger = await requestToken({ user: "mallory", password: testRegistryAuth("app-shop").password, scopes: [] });
    expect(stranger.status).toBe(401);
    expect((await requestToken({ user: "app-shop", scopes: [], service: "another-registry" })).status).toBe(400);
  });

  it("grants only what the user holds: a scope outside the grant comes back without its actions, and the registry refuses it", async () => {
    const res = await requestToken({
      user: "app-shop",
      scopes: ["repository:shop:pull,push", "repository:blog:pull", "repository:base/node:pull,push"],
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    expect(answer.access_token).toBe(answer.token);
    expect(answer.expires_in).toBeGreaterThanOrEqual(60);
    expect(Date.parse(answer.issued_at)).toBeGreaterThan(Date.now() - 60_000);
    const c = claims(answer.token);
    expect(c.sub).toBe("app-shop");
    expect(c.aud).toBe("hoist-registry");
    expect(c.access).toEqual([
      { type: "repository", name: "shop", actions: ["pull", "push"] },
      { type: "repository", name: "blog", actions: [] },
      { type: "repository", name: "base/node", actions: ["pull"] },
    ]);
    // The registry itself: blog's tags need pull, which this token lacks.
    const denied = await tagsWith("blog", answer.token);
    expect(denied.status).toBe(401);
    expect(await denied.text()).toMatch(/UNAUTHORIZED|DENIED/);
    expect((await tagsWith("shop", answer.token)).status).toBe(404);
    // Anonymous: a token with nothing in it.
    expect(claims(await registryToken(undefined, ["repository:shop:pull"])).access).toEqual([
      { type: "repository", name: "shop", actions: [] },
    ]);
  });

  it("the registry rejects an expired token and one signed by a key it does not trust, and takes a fresh one", async () => {
    const access = [{ type: "repository", name: "shop", actions: ["pull"] }];
    const base = { issuer: "hoist", service: "hoist-registry", subject: "deployer", access };
    const signer = realSigner();
    // Control: the same signer and claims, fresh, reach the repository (404: it has no tags yet).
    const fresh = signToken(signer, { ...base, issuedAt: Math.floor(Date.now() / 1000), expiresIn: 300 });
    expect((await tagsWith("shop", fresh)).status).toBe(404);
    // Expired well past the registry's leeway.
    const expired = signToken(signer, { ...base, issuedAt: Math.floor(Date.now() / 1000) - 3600, expiresIn: 300 });
    const late = await tagsWith("shop", expired);
    expect(late.status).toBe(401);
    expect(await late.text()).toMatch(/UNAUTHORIZED/);
    // Forged: a key and self-signed certificate of the attacker's own, sent in x5c.
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(join(tmp, "k.pem"), privateKey.export({ type: "pkcs8", format: "pem" }));
    execFileSync("openssl", [
      "req",
      "-new",
      "-x509",
      "-key",
      join(tmp, "k.pem"),
      "-out",
      join(tmp, "c.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=hoist registry token signer",
    ]);
    const forger = signerFrom(privateKey, readFileSync(join(tmp, "c.pem"), "utf8"));
    const forged = signToken(forger, { ...base, issuedAt: Math.floor(Date.now() / 1000), expiresIn: 300 });
    const refused = await tagsWith("shop", forged);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toMatch(/UNAUTHORIZED/);
  });
});
