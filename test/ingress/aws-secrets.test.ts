import { KMSClient } from "@aws-sdk/client-kms";
import { AwsKmsSecretBox, createSecretBox, SecretError, secretContexts } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_AWS_CREDENTIALS } from "../support/aws/json-server.js";
import { type KmsTestServer, startKmsServer } from "../support/kms/server.js";

describe("aws secret box (real @aws-sdk/client-kms against the KMS test server)", () => {
  let kms: KmsTestServer;
  let client: KMSClient;
  const ctx = secretContexts.deployKey("web");

  beforeAll(async () => {
    kms = await startKmsServer();
    client = new KMSClient({
      endpoint: kms.url,
      region: kms.region,
      credentials: TEST_AWS_CREDENTIALS,
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await kms.close();
  });

  it("seals with a KMS data key bound to app and purpose, stores only the encrypted key, and opens", async () => {
    const box = createSecretBox({ HOIST_KMS: "aws", HOIST_KMS_KEY_ID: "alias/hoist", HOIST_DATA_DIR: "/nonexistent" }, client);
    const sealed = await box.seal("-----BEGIN OPENSSH PRIVATE KEY----- canary", ctx);
    expect(sealed.provider).toBe("aws");
    expect(sealed.keyId).toBe(kms.keyArn);
    expect(JSON.stringify(sealed)).not.toContain("canary");
    const gen = kms.requests.find((r) => r.target === "TrentService.GenerateDataKey");
    expect(gen?.body).toMatchObject({ KeyId: "alias/hoist", KeySpec: "AES_256", EncryptionContext: { app: "web", purpose: "deploy-key" } });
    // The stored key is KMS's blob, not the data key KMS returned in plaintext.
    expect(Buffer.from(sealed.encryptedKey, "base64").toString()).toContain(kms.keyArn);
    expect((await box.open(sealed, ctx)).toString()).toBe("-----BEGIN OPENSSH PRIVATE KEY----- canary");
    const dec = kms.requests.find((r) => r.target === "TrentService.Decrypt");
    expect(dec?.body).toMatchObject({ KeyId: kms.keyArn, EncryptionContext: { app: "web", purpose: "deploy-key" } });
  });

  it("fails loudly with another context or a tampered ciphertext or data key", async () => {
    const box = new AwsKmsSecretBox(client, kms.keyArn);
    const sealed = await box.seal("value", ctx);
    await expect(box.open(sealed, secretContexts.deployKey("other"))).rejects.toThrow(/tampered with, or sealed for another app/);
    await expect(box.open(sealed, secretContexts.appEnv("web"))).rejects.toThrow(SecretError);
    const body = Buffer.from(sealed.ciphertext, "base64");
    body[0] = (body[0] ?? 0) ^ 1;
    await expect(box.open({ ...sealed, ciphertext: body.toString("base64") }, ctx)).rejects.toThrow(/tampered/);
    const key = Buffer.from(sealed.encryptedKey, "base64");
    key[key.length - 1] = (key[key.length - 1] ?? 0) ^ 1;
    await expect(box.open({ ...sealed, encryptedKey: key.toString("base64") }, ctx)).rejects.toThrow(/tampered/);
  });

  it("asks KMS once for a data key opened again soon, and again for another context or when it aged out", async () => {
    const box = new AwsKmsSecretBox(client, kms.keyArn, { maxAgeMs: 60_000, maxEntries: 10 });
    const sealed = await box.seal("https://hooks.slack.example/T0/B0/canary", ctx);
    const decrypts = () => kms.requests.filter((r) => r.target === "TrentService.Decrypt").length;
    const before = decrypts();
    for (let i = 0; i < 5; i++) expect((await box.open(sealed, ctx)).toString()).toContain("canary");
    expect(decrypts() - before).toBe(1);
    await expect(box.open(sealed, secretContexts.deployKey("other"))).rejects.toThrow(/tampered with, or sealed for another app/);
    expect(decrypts() - before).toBe(2);
    const body = Buffer.from(sealed.ciphertext, "base64");
    body[0] = (body[0] ?? 0) ^ 1;
    await expect(box.open({ ...sealed, ciphertext: body.toString("base64") }, ctx)).rejects.toThrow(SecretError);
    const fresh = new AwsKmsSecretBox(client, kms.keyArn, { maxAgeMs: 0, maxEntries: 10 });
    await fresh.open(sealed, ctx);
    await fresh.open(sealed, ctx);
    expect(decrypts() - before).toBe(4);
  });

  it("says what is wrong with the key, without leaking the value", async () => {
    const missing = new AwsKmsSecretBox(client, "alias/nope");
    await expect(missing.seal("top-secret-value", ctx)).rejects.toThrow(/GenerateDataKey failed \(NotFoundException\).*HOIST_KMS_KEY_ID/);
    const arn = kms.addKey();
    const box = new AwsKmsSecretBox(client, arn);
    const sealed = await box.seal("top-secret-value", ctx);
    kms.setEnabled(arn, false);
    const err = (await box.open(sealed, ctx).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(SecretError);
    expect(err.message).toMatch(/Decrypt failed \(DisabledException\)/);
    expect(err.message).not.toContain("top-secret-value");
  });

  it("refuses secrets of the local provider and a missing key id", async () => {
    const box = new AwsKmsSecretBox(client, kms.keyArn);
    const sealed = await box.seal("x", ctx);
    await expect(box.open({ ...sealed, provider: "local" }, ctx)).rejects.toThrow(/not by AWS KMS/);
    expect(() => createSecretBox({ HOIST_KMS: "aws", HOIST_DATA_DIR: "/tmp" })).toThrow(/needs HOIST_KMS_KEY_ID/);
  });

  it("KMS refuses wrong credentials or another region; the secret box says which AWS error and what to check", async () => {
    const withClient = async (config: { region?: string; credentials?: { accessKeyId: string; secretAccessKey: string } }) => {
      const other = new KMSClient({ endpoint: kms.url, region: kms.region, credentials: TEST_AWS_CREDENTIALS, maxAttempts: 1, ...config });
      try {
        return (await new AwsKmsSecretBox(other, kms.keyArn).seal("top-secret-value", ctx).catch((e: unknown) => e)) as Error;
      } finally {
        other.destroy();
      }
    };
    const check =
      "; check this service's AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or its role), the region (AWS_REGION) and the clock";
    const before = kms.requests.length;
    const wrongSecret = await withClient({ credentials: { ...TEST_AWS_CREDENTIALS, secretAccessKey: "not-the-secret" } });
    expect(wrongSecret).toBeInstanceOf(SecretError);
    expect(wrongSecret.message).toBe(
      "AWS KMS GenerateDataKey failed: InvalidSignatureException: The request signature we calculated does not match the signature you provided. " +
        `Check your AWS Secret Access Key and signing method. Consult the service documentation for details.${check}`,
    );
    const unknownKey = await withClient({ credentials: { accessKeyId: "AKIAUNKNOWNKMS000001", secretAccessKey: "whatever" } });
    expect(unknownKey.message).toBe(
      `AWS KMS GenerateDataKey failed: UnrecognizedClientException: The security token included in the request is invalid.${check}`,
    );
    const elsewhere = await withClient({ region: "us-west-2" });
    expect(elsewhere.message).toBe(
      `AWS KMS GenerateDataKey failed: InvalidSignatureException: Credential should be scoped to a valid region, not 'us-west-2'.${check}`,
    );
    expect(kms.requests.length).toBe(before);
    expect(kms.rejected.slice(-3).map((r) => r.type)).toEqual([
      "InvalidSignatureException",
      "UnrecognizedClientException",
      "InvalidSignatureException",
    ]);
  });
});
