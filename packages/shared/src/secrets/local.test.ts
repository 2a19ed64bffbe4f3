import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import { describe, expect, it } from "vitest";

const NOBODY = 65534;

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

  // Root reads any file, so an unreadable key is shown by a process of another user (these run as root, as CI does).
  it("a key created by root goes to its directory's owner, so a service of that user can read it", () => {
    const shared = join(mkdtempSync(join(tmpdir(), "hoist-secrets-")), "secrets");
    mkdirSync(shared, { mode: 0o700 });
    chownSync(shared, NOBODY, NOBODY);
    const file = join(shared, "master.key");
    loadOrCreateMasterKey(file);
    const st = statSync(file);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([NOBODY, NOBODY, 0o600]);
  });

  it("a key another user cannot read fails with a message naming the file and what to run", () => {
    const root = mkdtempSync(join(tmpdir(), "hoist-secrets-"));
    chmodSync(root, 0o755);
    const file = join(root, "master.key");
    loadOrCreateMasterKey(file);
    // The child runs as nobody, who may not be able to enter the checkout (a 0700 parent dir):
    // it loads a copy of the built module from a directory of its own.
    // The whole built package, so that whatever local.js comes to import relatively is there.
    const code = join(root, "code");
    cpSync(join(import.meta.dirname, "..", "..", "dist"), code, { recursive: true });
    writeFileSync(join(code, "package.json"), '{"type":"module"}');
    // sealed.js needs zod: a copy of the package beside the code.
    const zodEntry = createRequire(join(import.meta.dirname, "..", "..", "package.json")).resolve("zod");
    const zodRoot = zodEntry.slice(0, zodEntry.lastIndexOf(`${sep}zod${sep}`) + `${sep}zod`.length);
    cpSync(zodRoot, join(code, "node_modules", "zod"), { recursive: true, dereference: true });
    const script = `import(${JSON.stringify(join(code, "secrets", "local.js"))}).then((m) => m.loadOrCreateMasterKey(${JSON.stringify(file)})).catch((e) => { console.error(e.message); process.exit(3); })`;
    const child = spawnSync(process.execPath, ["-e", script], {
      uid: NOBODY,
      gid: NOBODY,
      encoding: "utf8",
      cwd: root,
    });
    expect(child.status, child.stderr).toBe(3);
    expect(child.stderr.trim()).toBe(
      `master key file ${file} (owned by uid 0, mode 0600) cannot be read by this process (uid ${NOBODY}): run every Hoist service as the same user, or give this one the file: chown ${NOBODY} ${file} && chmod 600 ${file} (and let it enter ${root})`,
    );
  });
});
