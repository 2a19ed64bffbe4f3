import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { legacySeal as legacySealWith } from "../testing/index.js";
import { createSecretBox } from "./factory.js";
import { deriveKeyring, KEYRING_SERVICES, loadKeyring, purposeKey, SECRET_PURPOSES, WORKER_PURPOSES, writeKeyring } from "./keyring.js";
import { LocalSecretBox } from "./local.js";
import { SecretError, secretContexts } from "./sealed.js";

const master = randomBytes(32);
const api = new LocalSecretBox(master);
const dir = mkdtempSync(join(tmpdir(), "hoist-keyring-"));
const boxOf = (service: (typeof KEYRING_SERVICES)[number]) => {
  const file = join(dir, `${service}.json`);
  writeKeyring(file, deriveKeyring(master, service));
  return new LocalSecretBox(loadKeyring(file));
};

const legacySeal = (plaintext: string, context: { app: string; purpose: string }) => legacySealWith(master, plaintext, context);

describe("per-service keyrings", () => {
  const contexts = {
    "deploy-key": secretContexts.deployKey("web"),
    env: secretContexts.appEnv("web"),
    "webhook-signing-secret": secretContexts.signingSecret("web"),
    "slack-webhook-url": secretContexts.slackWebhookUrl("web"),
    "outgoing-webhook-secret": secretContexts.outgoingWebhookSecret("web"),
    "gitlab-token": secretContexts.gitlabToken("glc_1"),
  } as const;

  it("every secret context has a purpose with a key", () => {
    expect(Object.keys(contexts).sort()).toEqual([...SECRET_PURPOSES].sort());
    for (const [purpose, ctx] of Object.entries(contexts)) expect(ctx.purpose).toBe(purpose);
  });

  it("each worker opens exactly the kinds of secret it needs, and nothing else", async () => {
    for (const service of KEYRING_SERVICES) {
      const box = boxOf(service);
      for (const purpose of SECRET_PURPOSES) {
        const sealed = await api.seal(`canary-${purpose}`, contexts[purpose]);
        const allowed = (WORKER_PURPOSES[service] as readonly string[]).includes(purpose);
        if (allowed) expect((await box.open(sealed, contexts[purpose])).toString()).toBe(`canary-${purpose}`);
        else
          await expect(box.open(sealed, contexts[purpose]), `${service} ${purpose}`).rejects.toThrow(
            `the ${service} holds no key for ${purpose} secrets`,
          );
      }
    }
    expect(WORKER_PURPOSES).toEqual({
      builder: ["deploy-key", "env"],
      deployer: ["env", "gitlab-token"],
      notifier: ["gitlab-token", "slack-webhook-url", "outgoing-webhook-secret"],
    });
  });

  it("a keyring holds no master key and no other purpose's key, and its keys do not open each other's secrets", async () => {
    const file = join(dir, "notifier.json");
    writeKeyring(file, deriveKeyring(master, "notifier"));
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(master.toString("base64"));
    expect(text).not.toContain(purposeKey(master, "deploy-key").toString("base64"));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // A keyring file edited to claim another purpose under a key it has does not open that purpose.
    const forged = JSON.parse(text);
    forged.keys["deploy-key"] = forged.keys["gitlab-token"];
    writeFileSync(join(dir, "forged.json"), JSON.stringify(forged));
    const sealed = await api.seal("the deploy key", contexts["deploy-key"]);
    await expect(new LocalSecretBox(loadKeyring(join(dir, "forged.json"))).open(sealed, contexts["deploy-key"])).rejects.toThrow(
      /could not be decrypted/,
    );
  });

  it("what a worker seals, the API opens (same master)", async () => {
    const sealed = await boxOf("notifier").seal("xoxb", contexts["slack-webhook-url"]);
    expect(sealed.v).toBe(2);
    expect((await api.open(sealed, contexts["slack-webhook-url"])).toString()).toBe("xoxb");
  });

  it("a secret sealed by an older Hoist under the master key opens in the API; a worker says to start the API, which re-seals it", async () => {
    const old = legacySeal("old env", contexts.env);
    expect(api.needsReseal(old)).toBe(true);
    expect((await api.open(old, contexts.env)).toString()).toBe("old env");
    await expect(boxOf("deployer").open(old, contexts.env)).rejects.toThrow(
      /sealed by an older Hoist under the master key itself; the API re-seals/,
    );
    const resealed = await api.seal(await api.open(old, contexts.env), contexts.env);
    expect(api.needsReseal(resealed)).toBe(false);
    expect((await boxOf("deployer").open(resealed, contexts.env)).toString()).toBe("old env");
  });

  it("bad keyring files fail with what to do", () => {
    expect(() => loadKeyring(join(dir, "missing.json"))).toThrow(/cannot be read \(ENOENT\): write it with/);
    writeFileSync(join(dir, "garbage.json"), "{not json");
    expect(() => loadKeyring(join(dir, "garbage.json"))).toThrow(/is not JSON/);
    writeFileSync(join(dir, "short.json"), JSON.stringify({ v: 1, service: "builder", keyId: api.keyId, keys: { env: "c2hvcnQ=" } }));
    expect(() => loadKeyring(join(dir, "short.json"))).toThrow(/keys.env: a 32-byte key, base64/);
    writeFileSync(join(dir, "svc.json"), JSON.stringify({ v: 1, service: "api", keyId: api.keyId, keys: {} }));
    expect(() => loadKeyring(join(dir, "svc.json"))).toThrow(SecretError);
  });

  it("the factory takes a keyring or the master key, never both", async () => {
    const file = join(dir, "builder.json");
    writeKeyring(file, deriveKeyring(master, "builder"));
    const box = createSecretBox({ HOIST_KMS: "local", HOIST_KEYRING_FILE: file, HOIST_DATA_DIR: dir });
    expect((await box.open(await api.seal("k", contexts["deploy-key"]), contexts["deploy-key"])).toString()).toBe("k");
    expect(() =>
      createSecretBox({ HOIST_KMS: "local", HOIST_KEYRING_FILE: file, HOIST_MASTER_KEY_FILE: join(dir, "m"), HOIST_DATA_DIR: dir }),
    ).toThrow(/both set/);
  });
});
