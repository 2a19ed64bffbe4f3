import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { describe, expect, it } from "vitest";
import { amzDate, computeSignature } from "./canonical-request.js";
import { AwsError } from "./errors.js";
import { type AwsTestCredentials, type SigV4Expectation, type SigV4Request, verifySigV4 } from "./sigv4.js";

// The SDK's own signer, used here only to produce requests as the real clients sign them.
type Source = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: Source) =>
  typeof d === "string" ? Buffer.from(d) : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d);
class NodeSha256 {
  private h: Hash | Hmac;
  constructor(private readonly secret?: Source) {
    this.h = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(this.secret));
  }
  update(d: Source) {
    this.h.update(bytes(d));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
  reset() {
    this.h = this.fresh();
  }
}

const CREDS: AwsTestCredentials = { accessKeyId: "AKIAVERIFIERTEST0001", secretAccessKey: "verifier/secret+key/0123456789abcdefghijkl" };
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const MIN = 60_000;

interface Draft {
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  region?: string;
  service?: string;
  at?: number;
  credentials?: AwsTestCredentials;
}

/** A KMS-shaped JSON 1.1 request signed by @smithy/signature-v4, turned into what the server receives. */
async function sdkSigned(d: Draft = {}): Promise<SigV4Request> {
  const signer = new SignatureV4({
    service: d.service ?? "kms",
    region: d.region ?? "eu-west-1",
    credentials: d.credentials ?? CREDS,
    sha256: NodeSha256,
  });
  const body = d.body ?? '{"KeyId":"alias/hoist","KeySpec":"AES_256"}';
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: "http:",
      hostname: "127.0.0.1",
      port: 4599,
      path: d.path ?? "/",
      query: d.query ?? {},
      headers: {
        host: "127.0.0.1:4599",
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "TrentService.GenerateDataKey",
        ...d.headers,
      },
      body,
    },
    { signingDate: new Date(d.at ?? NOW) },
  );
  const query = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
  return {
    method: signed.method,
    url: `${signed.path}${query ? `?${query}` : ""}`,
    rawHeaders: Object.entries(signed.headers).flat(),
    body: Buffer.from(body),
  };
}

const expectation = (e: Partial<SigV4Expectation> = {}): SigV4Expectation => ({
  service: "kms",
  region: "eu-west-1",
  credentials: [CREDS],
  now: NOW,
  maxSkewMs: 5 * MIN,
  ...e,
});

function refusal(req: SigV4Request, e: Partial<SigV4Expectation> = {}): { type: string; message: string; status: number } {
  try {
    verifySigV4(req, expectation(e));
  } catch (err) {
    if (err instanceof AwsError) return { type: err.type, message: err.message, status: err.status };
    throw err;
  }
  throw new Error("the verifier accepted the request");
}

const withHeader = (req: SigV4Request, name: string, value: string): SigV4Request => {
  const raw = [...req.rawHeaders];
  const i = raw.findIndex((h, n) => n % 2 === 0 && h.toLowerCase() === name);
  if (i < 0) raw.push(name, value);
  else raw[i + 1] = value;
  return { ...req, rawHeaders: raw };
};
const header = (req: SigV4Request, name: string) => req.rawHeaders[req.rawHeaders.findIndex((h, n) => n % 2 === 0 && h === name) + 1] ?? "";

const MISMATCH = /^The request signature we calculated does not match the signature you provided\. Check your AWS Secret Access Key/;

describe("SigV4 verifier", () => {
  it("reproduces AWS's published get-vanilla and get-vanilla-query-order-key-case signatures", () => {
    const vector = (url: string) =>
      computeSignature(
        { method: "GET", url, rawHeaders: ["Host", "example.amazonaws.com", "X-Amz-Date", "20150830T123600Z"], body: Buffer.alloc(0) },
        {
          signedHeaders: "host;x-amz-date",
          scope: "20150830/us-east-1/service/aws4_request",
          date: "20150830T123600Z",
          secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
          dateStamp: "20150830",
          region: "us-east-1",
          service: "service",
        },
      ).signature;
    expect(vector("/")).toBe("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    expect(vector("/?Param2=value2&Param1=value1")).toBe("b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
  });

  it("accepts a request the SDK's signer signed, with a query, a session token and headers it did not sign", async () => {
    const req = await sdkSigned({ query: { b: "2 two", a: "1/one" } });
    expect(verifySigV4(req, expectation())).toEqual({ accessKeyId: CREDS.accessKeyId });
    // Proxies and Node add unsigned headers; only the signed ones count.
    expect(verifySigV4(withHeader(req, "user-agent", "changed/1.0"), expectation())).toEqual({ accessKeyId: CREDS.accessKeyId });
    const session = { ...CREDS, sessionToken: "FwoGZXIvYXdzEBYaDH-session-token" };
    const withToken = await sdkSigned({ credentials: session });
    expect(verifySigV4(withToken, expectation({ credentials: [session] }))).toEqual({ accessKeyId: CREDS.accessKeyId });
    expect(refusal(withHeader(withToken, "x-amz-security-token", "another-token"), { credentials: [session] }).type).toBe(
      "UnrecognizedClientException",
    );
    expect(refusal(req, { credentials: [session] }).type).toBe("UnrecognizedClientException");
  });

  it("refuses one changed byte of the body, a signed header, the path or the query as a signature mismatch, naming the canonical request", async () => {
    const req = await sdkSigned({ path: "/a/b", query: { a: "1" } });
    const body = Buffer.from(req.body);
    body[body.length - 3] = (body[body.length - 3] as number) ^ 1;
    const cases: SigV4Request[] = [
      { ...req, body },
      withHeader(req, "x-amz-target", "TrentService.Decrypt"),
      withHeader(req, "host", "127.0.0.1:4600"),
      { ...req, url: req.url.replace("/a/b", "/a/c") },
      { ...req, url: req.url.replace("a=1", "a=2") },
      { ...req, url: `${req.url}&extra=1` },
      { ...req, method: "PUT" },
    ];
    for (const changed of cases) {
      const r = refusal(changed);
      expect(r).toMatchObject({ type: "InvalidSignatureException", status: 400 });
      expect(r.message).toMatch(MISMATCH);
      expect(r.message).toContain("The Canonical String for this request should have been\n'");
      expect(r.message).toContain(`The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n${amzDate(NOW)}\n`);
    }
    // The server's canonical request names what it saw, e.g. the tampered target.
    expect(refusal(cases[1] as SigV4Request).message).toContain("x-amz-target:TrentService.Decrypt\n");
    // A wrong secret is a mismatch too.
    expect(refusal(req, { credentials: [{ ...CREDS, secretAccessKey: "another-secret" }] }).message).toMatch(MISMATCH);
  });

  it("refuses a signature scoped to another region or service with AWS's wording", async () => {
    expect(refusal(await sdkSigned({ region: "us-east-1" }))).toEqual({
      type: "InvalidSignatureException",
      status: 400,
      message: "Credential should be scoped to a valid region, not 'us-east-1'. ",
    });
    expect(refusal(await sdkSigned({ service: "ecs" }))).toEqual({
      type: "InvalidSignatureException",
      status: 400,
      message: "Credential should be scoped to correct service: 'kms'. ",
    });
  });

  it("refuses an unknown access key as UnrecognizedClientException", async () => {
    const r = refusal(await sdkSigned({ credentials: { accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: CREDS.secretAccessKey } }));
    expect(r).toEqual({
      type: "UnrecognizedClientException",
      status: 400,
      message: "The security token included in the request is invalid.",
    });
  });

  it("allows the service's clock skew and no more, in both directions, with AWS's messages", async () => {
    const okLate = await sdkSigned({ at: NOW - 5 * MIN + 1000 });
    const okEarly = await sdkSigned({ at: NOW + 5 * MIN - 1000 });
    expect(verifySigV4(okLate, expectation())).toEqual({ accessKeyId: CREDS.accessKeyId });
    expect(verifySigV4(okEarly, expectation())).toEqual({ accessKeyId: CREDS.accessKeyId });
    expect(refusal(await sdkSigned({ at: NOW - 5 * MIN - 1000 }))).toEqual({
      type: "InvalidSignatureException",
      status: 400,
      message: "Signature expired: 20260115T115459Z is now earlier than 20260115T115500Z (20260115T120000Z - 5 min.)",
    });
    expect(refusal(await sdkSigned({ at: NOW + 5 * MIN + 1000 }))).toEqual({
      type: "InvalidSignatureException",
      status: 400,
      message: "Signature not yet current: 20260115T120501Z is still later than 20260115T120500Z (20260115T120000Z + 5 min.)",
    });
    // ECR allows 15 minutes.
    const ecr = { service: "ecr", maxSkewMs: 15 * MIN };
    expect(verifySigV4(await sdkSigned({ service: "ecr", at: NOW - 14 * MIN }), expectation(ecr)).accessKeyId).toBe(CREDS.accessKeyId);
    expect(refusal(await sdkSigned({ service: "ecr", at: NOW - 16 * MIN }), ecr).message).toBe(
      "Signature expired: 20260115T114400Z is now earlier than 20260115T114500Z (20260115T120000Z - 15 min.)",
    );
  });

  it("refuses a date changed after signing: within the skew as a mismatch, on another day as a scope mismatch", async () => {
    const req = await sdkSigned();
    expect(refusal(withHeader(req, "x-amz-date", amzDate(NOW + 1000))).message).toMatch(MISMATCH);
    expect(refusal(withHeader(req, "x-amz-date", "20260116T120000Z")).message).toBe(
      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260115' != '20260116', from '20260116T120000Z'.",
    );
    expect(refusal(withHeader(req, "x-amz-date", "2026-01-15T12:00:00Z"))).toMatchObject({
      type: "IncompleteSignatureException",
      message: "Date must be in ISO-8601 'basic format'. Got '2026-01-15T12:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601",
    });
  });

  it("refuses requests without a usable Authorization header", async () => {
    const req = await sdkSigned();
    const unsigned = { ...req, rawHeaders: req.rawHeaders.filter((_, i, all) => (i % 2 === 0 ? all[i] : all[i - 1]) !== "authorization") };
    expect(refusal(unsigned)).toEqual({
      type: "MissingAuthenticationTokenException",
      status: 400,
      message: "Missing Authentication Token",
    });
    const auth = header(req, "authorization");
    expect(refusal(withHeader(req, "authorization", auth.replace(/, Signature=[0-9a-f]+/, "")))).toMatchObject({
      type: "IncompleteSignatureException",
      message: expect.stringMatching(/^Authorization header requires 'Signature' parameter\. Authorization=AWS4-HMAC-SHA256 /),
    });
    expect(
      refusal(withHeader(req, "authorization", auth.replace(/SignedHeaders=[^,]+/, "SignedHeaders=content-type;x-amz-date;x-amz-target"))),
    ).toEqual({
      type: "InvalidSignatureException",
      status: 400,
      message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    });
    expect(refusal(withHeader(req, "authorization", auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"))).type).toBe(
      "IncompleteSignatureException",
    );
  });
});
