import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalSecretBox, loadOrCreateMasterKey } from "./local.js";
import { SecretError } from "./sealed.js";

describe("local secret box", () => {
  const dir = mkdtempSync(join(tmpdir(), "hoist-secrets-"));
  const keyFile = join(dir, "nested", "master.key");
  const box = new LocalSecretBox(loadOrCreateMasterKey(keyFile));
  const ctx = { app: "web", purpose: "deploy-key" };

  it("creates the master key once, mode 0600, and reuses it", () => {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const again = new LocalSecretBox(loadOrCreateMasterKey(keyFile));
    expect(again.keyId).toBe(box.keyId);
  });

  it("seals and opens, never storing the plaintext", async () => {
    const sealed = await box.seal("s3cret-canary-value", ctx);
    expect(JSON.stringify(sealed)).not.toContain("s3cret-canary-value");
    expect((await box.open(sealed, ctx)).toString()).toBe("s3cret-canary-value");
  });

  it("fails loudly on tampering or another context", async () => {
    const sealed = await box.seal("value", ctx);
    const flipped = Buffer.from(sealed.ciphertext, "base64");
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    await expect(box.open({ ...sealed, ciphertext: flipped.toString("base64") }, ctx)).rejects.toThrow(SecretError);
    await expect(box.open(sealed, { app: "other", purpose: "deploy-key" })).rejects.toThrow(/tampered with, or sealed for another/);
    const otherKey = new LocalSecretBox(loadOrCreateMasterKey(join(dir, "other.key")));
    await expect(otherKey.open(sealed, ctx)).rejects.toThrow(/not by this master key/);
  });

  it("rejects a master key file of the wrong size", () => {
    const bad = join(dir, "bad.key");
    writeFileSync(bad, "c2hvcnQ=");
    expect(() => loadOrCreateMasterKey(bad)).toThrow(/must hold 32 bytes/);
  });
});
