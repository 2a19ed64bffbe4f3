import { describe, expect, it } from "vitest";
import { minMaskedLength, SecretMasker } from "./redact.js";

describe("secret masking in logs", () => {
  it("masks registered secrets (each line of a multi-line one), longest first, but not short values", () => {
    const m = new SecretMasker();
    m.add("hunter2-hunter2");
    m.add("hunter2-hunter2-long");
    m.add("first-line-secret\nsecond-line-secret");
    m.add("short");
    expect(minMaskedLength).toBe(8);
    expect(m.mask("a hunter2-hunter2-long b hunter2-hunter2 c")).toBe("a [redacted] b [redacted] c");
    expect(m.mask("second-line-secret / short")).toBe("[redacted] / short");
  });

  it("masks a PEM private key across lines fed one at a time, and one within a line", () => {
    const m = new SecretMasker();
    const fed = [
      "before",
      "x -----BEGIN RSA PRIVATE KEY-----",
      "MIIEowIBAAKCAQEA",
      "abc+/=",
      "-----END RSA PRIVATE KEY----- after",
      "next",
    ].map((l) => m.mask(l));
    expect(fed).toEqual(["before", "x [redacted private key]", "", "", " after", "next"]);
    expect(m.mask("k=-----BEGIN PRIVATE KEY-----AAAA-----END PRIVATE KEY-----;")).toBe("k=[redacted private key];");
  });
});
