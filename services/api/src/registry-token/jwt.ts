import { createPublicKey, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";
import type { Access } from "./grants.js";

/** The signing key and the certificate the registry's `rootcertbundle` holds (sent in `x5c`). */
export interface Signer {
  key: KeyObject;
  certDer: Buffer;
  alg: "ES256" | "RS256";
}

export function signerFrom(key: KeyObject, certPem: string): Signer {
  const cert = new X509Certificate(certPem);
  if (!cert.checkPrivateKey(key)) throw new Error("the signing key does not belong to the certificate");
  const type = createPublicKey(key).asymmetricKeyType;
  if (type !== "ec" && type !== "rsa") throw new Error(`a P-256 EC or an RSA key is needed, not ${type}`);
  return { key, certDer: cert.raw, alg: type === "ec" ? "ES256" : "RS256" };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

interface TokenClaims {
  issuer: string;
  service: string;
  subject: string;
  access: Access[];
  /** Seconds since the epoch. */
  issuedAt: number;
  expiresIn: number;
}

/** A registry token: a JWT whose `x5c` header chains to the registry's rootcertbundle. */
export function signToken(signer: Signer, c: TokenClaims): string {
  const header = b64({ typ: "JWT", alg: signer.alg, x5c: [signer.certDer.toString("base64")] });
  const payload = b64({
    iss: c.issuer,
    sub: c.subject,
    aud: c.service,
    iat: c.issuedAt,
    nbf: c.issuedAt - 1,
    exp: c.issuedAt + c.expiresIn,
    jti: randomBytes(16).toString("hex"),
    access: c.access,
  });
  const input = `${header}.${payload}`;
  const sig =
    signer.alg === "ES256"
      ? sign("sha256", Buffer.from(input), { key: signer.key, dsaEncoding: "ieee-p1363" })
      : sign("sha256", Buffer.from(input), signer.key);
  return `${input}.${sig.toString("base64url")}`;
}
