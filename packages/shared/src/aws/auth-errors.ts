/**
 * Errors AWS answers when it cannot authenticate a request: an unknown access key, a signature
 * made with the wrong secret, for another region or service, or with a clock too far off (the SDK
 * has already corrected its clock and retried once by then). No retry of the same request fixes
 * them; the credentials, the region or the clock must change.
 */
const AUTH_ERRORS = new Set([
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "IncompleteSignatureException",
  "MissingAuthenticationTokenException",
  "ExpiredTokenException",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
]);

export function isAwsAuthError(name: string): boolean {
  return AUTH_ERRORS.has(name);
}

/**
 * AWS's message for an authentication error, first paragraph only (a signature mismatch goes on
 * with the canonical request AWS computed), and what to check: `who` names the process whose
 * environment holds the credentials ("the deployer"), `region` where its region comes from.
 */
export function describeAwsAuthError(name: string, message: string, where: { who: string; region: string }): string {
  const first = message.split("\n\n")[0]?.trim() ?? "";
  return (
    `${name}: ${first}; check ${where.who}'s AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or its role), ` +
    `the region (${where.region}) and the clock`
  );
}
