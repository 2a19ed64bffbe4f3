import { timingSafeEqual } from "node:crypto";
import { ALGORITHM, amzDate, computeSignature, headerMap, parseAmzDate, type SigV4Request } from "./canonical-request.js";
import { AwsError } from "./errors.js";

export type { SigV4Request } from "./canonical-request.js";

/**
 * An independent AWS Signature Version 4 verifier for the AWS test servers (test support only).
 * It rebuilds the canonical request from the request as it arrived (method, raw path and query,
 * the signed headers' raw values, the SHA-256 of the raw body bytes), the string to sign and the
 * HMAC key chain, as AWS's "Create a signed AWS API request" documents them, and answers a
 * mismatch the way AWS's JSON 1.1 services (KMS, ECS, ECR) do: HTTP 400 with their error codes
 * and wording. It shares no code with the SDK's signer, so the SDK cannot agree with itself here.
 */
export interface AwsTestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests must carry it (signed) in X-Amz-Security-Token, as STS session credentials must. */
  sessionToken?: string;
}

export interface SigV4Expectation {
  /** The signing name: "kms", "ecs", "ecr". */
  service: string;
  /** The region this endpoint serves. */
  region: string;
  credentials: readonly AwsTestCredentials[];
  /** The server's clock, in ms since the epoch. */
  now: number;
  /** How far the request's date may be from `now`: 5 minutes for KMS and ECS, 15 for ECR. */
  maxSkewMs: number;
}

interface ParsedAuthorization {
  credential: string;
  signedHeaders: string;
  signature: string;
}

function parseAuthorization(header: string, date: string | undefined): ParsedAuthorization {
  const params = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length).split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing = [
    ...["Credential", "Signature", "SignedHeaders"]
      .filter((p) => !params.get(p))
      .map((p) => `Authorization header requires '${p}' parameter.`),
    ...(date === undefined ? ["Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."] : []),
  ];
  if (missing.length > 0) throw new AwsError("IncompleteSignatureException", `${missing.join(" ")} Authorization=${header}`);
  return {
    credential: params.get("Credential") as string,
    signedHeaders: params.get("SignedHeaders") as string,
    signature: params.get("Signature") as string,
  };
}

/**
 * Verifies a request's SigV4 Authorization header. Returns the access key it was signed with,
 * or throws the AwsError the real service would answer.
 */
export function verifySigV4(req: SigV4Request, expect: SigV4Expectation): { accessKeyId: string } {
  const headers = headerMap(req.rawHeaders);
  const authorization = headers.get("authorization")?.[0];
  if (authorization === undefined) throw new AwsError("MissingAuthenticationTokenException", "Missing Authentication Token");
  if (!authorization.startsWith(`${ALGORITHM} `)) {
    throw new AwsError("IncompleteSignatureException", `Unsupported AWS 'algorithm': '${authorization.split(" ")[0]}'`);
  }
  const date = headers.get("x-amz-date")?.[0];
  const auth = parseAuthorization(authorization, date);
  const dateValue = date as string;
  const signedAt = parseAmzDate(dateValue);
  if (signedAt === undefined) {
    throw new AwsError(
      "IncompleteSignatureException",
      `Date must be in ISO-8601 'basic format'. Got '${dateValue}'. See http://en.wikipedia.org/wiki/ISO_8601`,
    );
  }
  const parts = auth.credential.split("/");
  if (parts.length !== 5) {
    throw new AwsError(
      "IncompleteSignatureException",
      `Authorization header has an incorrect Credential: '${auth.credential}'; it should be '<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request'.`,
    );
  }
  const [accessKeyId, dateStamp, region, service, terminator] = parts as [string, string, string, string, string];
  if (terminator !== "aws4_request") {
    throw new AwsError(
      "InvalidSignatureException",
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'. `,
    );
  }
  if (dateStamp !== dateValue.slice(0, 8)) {
    throw new AwsError(
      "InvalidSignatureException",
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${dateStamp}' != '${dateValue.slice(0, 8)}', from '${dateValue}'.`,
    );
  }
  if (region !== expect.region)
    throw new AwsError("InvalidSignatureException", `Credential should be scoped to a valid region, not '${region}'. `);
  if (service !== expect.service) {
    throw new AwsError("InvalidSignatureException", `Credential should be scoped to correct service: '${expect.service}'. `);
  }
  const signedHeaders = auth.signedHeaders.split(";");
  if (!signedHeaders.includes("host")) {
    throw new AwsError("InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const known = expect.credentials.find((c) => c.accessKeyId === accessKeyId);
  const token = headers.get("x-amz-security-token")?.[0];
  if (!known || (known.sessionToken !== undefined && (token !== known.sessionToken || !signedHeaders.includes("x-amz-security-token")))) {
    throw new AwsError("UnrecognizedClientException", "The security token included in the request is invalid.");
  }
  const minutes = expect.maxSkewMs / 60_000;
  if (signedAt < expect.now - expect.maxSkewMs) {
    throw new AwsError(
      "InvalidSignatureException",
      `Signature expired: ${dateValue} is now earlier than ${amzDate(expect.now - expect.maxSkewMs)} (${amzDate(expect.now)} - ${minutes} min.)`,
    );
  }
  if (signedAt > expect.now + expect.maxSkewMs) {
    throw new AwsError(
      "InvalidSignatureException",
      `Signature not yet current: ${dateValue} is still later than ${amzDate(expect.now + expect.maxSkewMs)} (${amzDate(expect.now)} + ${minutes} min.)`,
    );
  }
  const computed = computeSignature(req, {
    signedHeaders: auth.signedHeaders,
    scope: `${dateStamp}/${region}/${service}/aws4_request`,
    date: dateValue,
    secretAccessKey: known.secretAccessKey,
    dateStamp,
    region,
    service,
  });
  const given = Buffer.from(auth.signature, "utf8");
  const wanted = Buffer.from(computed.signature, "utf8");
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
    throw new AwsError(
      "InvalidSignatureException",
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. " +
        "Consult the service documentation for details.\n\n" +
        `The Canonical String for this request should have been\n'${computed.canonicalRequest}'\n\n` +
        `The String-to-Sign should have been\n'${computed.stringToSign}'\n`,
    );
  }
  return { accessKeyId };
}
