import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Records, type Sealed } from "@hoist/shared";
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from "@hoist/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushPayload } from "../support/api/fixtures.js";
import { TEST_AWS_CREDENTIALS } from "../support/aws/json-server.js";
import { type KmsTestServer, startKmsServer } from "../support/kms/server.js";
import { type ServiceProcess, startService } from "../support/processes.js";
import { deliver } from "./webhook-helpers.js";

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const TOKEN = "process-test-token-0123456789abcdef0123";

/** The built API as its own process, sealing with HOIST_KMS=aws through the SDK's standard env. */
describe("api process with HOIST_KMS=aws", () => {
  let kms: KmsTestServer;
  let api: ServiceProcess;
  let base: string;
  const prefix = uniquePrefix("apiproc");
  const redis = testRedis();

  beforeAll(async () => {
    kms = await startKmsServer();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    api = startService("api", {
      REDIS_URL: testRedisUrl(),
      HOIST_QUEUE_PREFIX: prefix,
      HOIST_PORT: String(port),
      HOIST_HOST: "127.0.0.1",
      HOIST_API_TOKEN: TOKEN,
      HOIST_DATA_DIR: mkdtempSync(join(tmpdir(), "hoist-apiproc-")),
      HOIST_PUBLIC_URL: "https://ci.example.test/",
      HOIST_KMS: "aws",
      HOIST_KMS_KEY_ID: "alias/hoist",
      AWS_ENDPOINT_URL_KMS: kms.url,
      AWS_REGION: kms.region,
      AWS_ACCESS_KEY_ID: TEST_AWS_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_AWS_CREDENTIALS.secretAccessKey,
    });
    await api.waitForLog(/"msg":"ready"/);
  });
  afterAll(async () => {
    await api?.stop();
    await kms?.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  it("creates an app whose secrets are sealed by KMS, and takes a push", async () => {
    const res = await fetch(`${base}/v1/apps`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "web", repo: { sshUrl: "git@h:a/web.git" }, env: { SECRET: "kms-canary" } }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { webhook: { url: string; token: string } };
    expect(body.webhook.url).toMatch(/^https:\/\/ci\.example\.test\/webhooks\/gitlab\//);
    const app = await new Records(redis, prefix).apps.require("web");
    for (const sealed of [app.deployKey?.privateKey, app.env] as Sealed[]) {
      expect(sealed).toMatchObject({ provider: "aws", keyId: kms.keyArn });
    }
    const contexts = kms.requests.filter((r) => r.target === "TrentService.GenerateDataKey").map((r) => r.body.EncryptionContext);
    expect(contexts).toEqual(
      expect.arrayContaining([
        { app: "web", purpose: "deploy-key" },
        { app: "web", purpose: "env" },
      ]),
    );
    const push = await deliver(`${base}${new URL(body.webhook.url).pathname}`, {
      event: "Push Hook",
      token: body.webhook.token,
      body: pushPayload(),
    });
    expect(push.status).toBe(202);
    expect(api.lines.join("\n")).not.toContain(body.webhook.token);
    expect(api.lines.join("\n")).not.toContain("kms-canary");
  });

  it("refuses to start with HOIST_KMS=aws and no key id, naming the variable", async () => {
    const bad = startService("api", { REDIS_URL: testRedisUrl(), HOIST_API_TOKEN: TOKEN, HOIST_KMS: "aws" });
    const { code } = await bad.exited;
    expect(code).toBe(78);
    expect(bad.lines.join("\n")).toMatch(/config: HOIST_KMS_KEY_ID .*HOIST_KMS=aws/);
  });
});
