import { createHash, createHmac } from "node:crypto";

/**
 * The SigV4 canonical request, string to sign and HMAC key chain, built from a request as it
 * arrived, as AWS's "Create a signed AWS API request" describes them for services other than S3.
 * Test support only.
 */
export const ALGORITHM = "AWS4-HMAC-SHA256";

export interface SigV4Request {
  method: string;
  /** Path and query exactly as on the wire (Node's `req.url`). */
  url: string;
  /** Node's `req.rawHeaders`: name, value, name, value, ... as received. */
  rawHeaders: readonly string[];
  body: Buffer;
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data, "utf8").digest();

/** RFC 3986 encoding: everything but the unreserved characters, with upper-case hex. */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** ISO 8601 basic format, as X-Amz-Date and AWS's error messages write it. */
export function amzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

export function parseAmzDate(v: string): number | undefined {
  const m = AMZ_DATE.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isNaN(t) || amzDate(t) !== v ? undefined : t;
}

/** Header values by lower-case name; repeated headers joined with commas, as SigV4 canonicalises them. */
export function headerMap(rawHeaders: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const list = out.get(name) ?? [];
    list.push(rawHeaders[i + 1] as string);
    out.set(name, list);
  }
  return out;
}

/** Non-S3 services: dot segments removed, then every segment of the path as sent is encoded again. */
function canonicalPath(rawPath: string): string {
  const segments: string[] = [];
  for (const seg of rawPath.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") segments.pop();
    else segments.push(seg);
  }
  if (segments.length === 0) return "/";
  return `/${segments.map(uriEncode).join("/")}${rawPath.endsWith("/") ? "/" : ""}`;
}

function decodeQueryPart(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function canonicalQuery(rawQuery: string): string {
  if (rawQuery === "") return "";
  return rawQuery
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const eq = p.indexOf("=");
      const name = eq < 0 ? p : p.slice(0, eq);
      const value = eq < 0 ? "" : p.slice(eq + 1);
      return [uriEncode(decodeQueryPart(name)), uriEncode(decodeQueryPart(value))] as const;
    })
    .filter(([name]) => name !== "X-Amz-Signature")
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : av > bv ? 1 : 0) : a < b ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

const canonicalValue = (values: readonly string[]) => values.map((v) => v.trim().replace(/\s+/g, " ")).join(",");

/** The parts of a request's signature the verifier rebuilt; exposed for the verifier's own tests. */
export interface SigV4Computation {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

/** Rebuilds the canonical request, the string to sign and the signature the given secret makes. */
export function computeSignature(
  req: SigV4Request,
  auth: { signedHeaders: string; scope: string; date: string; secretAccessKey: string; dateStamp: string; region: string; service: string },
): SigV4Computation {
  const headers = headerMap(req.rawHeaders);
  const q = req.url.indexOf("?");
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? "" : req.url.slice(q + 1);
  const signed = auth.signedHeaders.split(";");
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalPath(rawPath),
    canonicalQuery(rawQuery),
    ...signed.map((name) => `${name}:${canonicalValue(headers.get(name) ?? [])}`),
    "",
    auth.signedHeaders,
    sha256Hex(req.body),
  ].join("\n");
  const stringToSign = [ALGORITHM, auth.date, auth.scope, sha256Hex(canonicalRequest)].join("\n");
  const key = [auth.dateStamp, auth.region, auth.service, "aws4_request"].reduce<Buffer | string>(
    (k, part) => hmac(k, part),
    `AWS4${auth.secretAccessKey}`,
  );
  return { canonicalRequest, stringToSign, signature: hmac(key, stringToSign).toString("hex") };
}
