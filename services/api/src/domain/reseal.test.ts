import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createLogger, deriveKeyring, LocalSecretBox, Records, type Redis, type Sealed, secretContexts } from "@hoist/shared";
import { deletePrefix, legacySeal, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resealLegacySecrets } from "./reseal.js";

let redis: Redis;
let prefix: string;
let records: Records;
const master = randomBytes(32);
const api = new LocalSecretBox(master);
const log = createLogger({ service: "api", level: "silent" });

beforeEach(async () => {
  redis = testRedis("producer");
  if (redis.status !== "ready") await once(redis, "ready");
  prefix = uniquePrefix("reseal");
  records = new Records(redis, prefix);
});

afterEach(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe("re-sealing what an older Hoist sealed under the master key", () => {
  it("seals every legacy secret again under its purpose key, once, so each worker's keyring opens its own", async () => {
    const old = (text: string, ctx: { app: string; purpose: string }) => legacySeal(master, text, ctx);
    await records.apps.create({
      name: "shop",
      branch: "main",
      repo: { sshUrl: "ssh://git@127.0.0.1/shop.git" },
      target: { kind: "local", services: { web: { port: 18080 } } },
      supersede: "running",
      tagBuilds: false,
      buildTimeoutSec: 1800,
      deployKey: { publicKey: "ssh-ed25519 AAAA", privateKey: old("PRIVATE KEY", secretContexts.deployKey("shop")) },
      env: old('{"A":"1"}', secretContexts.appEnv("shop")),
      slackWebhookUrl: old("https://hooks.slack.com/services/T/B/x", secretContexts.slackWebhookUrl("shop")),
      signingSecret: old("whsec_x", secretContexts.signingSecret("shop")),
      outgoingWebhook: { url: "https://example.test/hook", secret: old("out", secretContexts.outgoingWebhookSecret("shop")) },
    });
    const build = await records.builds.create({ app: "shop", ref: "refs/heads/main", sha: "a".repeat(40), trigger: "push" });
    const releases = [];
    for (let i = 0; i < 3; i++)
      releases.push(
        await records.releases.create({
          app: "shop",
          buildId: build.id,
          images: [],
          env: old(`{"N":"${i}"}`, secretContexts.appEnv("shop")),
        }),
      );
    const conn = await records.gitlabConnections.create({
      url: "https://gitlab.example.test",
      token: old("glpat-x", secretContexts.gitlabToken("glc_reseal")),
      username: "bot",
      id: "glc_reseal",
    });

    expect(await resealLegacySecrets(records, api, log)).toBe(5 + 3 + 1);
    const builder = new LocalSecretBox(deriveKeyring(master, "builder"));
    const deployer = new LocalSecretBox(deriveKeyring(master, "deployer"));
    const notifier = new LocalSecretBox(deriveKeyring(master, "notifier"));
    const app = await records.apps.require("shop");
    const text = async (box: LocalSecretBox, s: Sealed | undefined, ctx: { app: string; purpose: string }) =>
      (await box.open(s as Sealed, ctx)).toString();
    expect(await text(builder, app.deployKey?.privateKey, secretContexts.deployKey("shop"))).toBe("PRIVATE KEY");
    expect(await text(builder, app.env, secretContexts.appEnv("shop"))).toBe('{"A":"1"}');
    expect(await text(notifier, app.slackWebhookUrl, secretContexts.slackWebhookUrl("shop"))).toBe(
      "https://hooks.slack.com/services/T/B/x",
    );
    expect(await text(notifier, app.outgoingWebhook?.secret, secretContexts.outgoingWebhookSecret("shop"))).toBe("out");
    expect(await text(api, app.signingSecret, secretContexts.signingSecret("shop"))).toBe("whsec_x");
    expect(app.deployKey?.publicKey).toBe("ssh-ed25519 AAAA");
    expect(app.outgoingWebhook?.url).toBe("https://example.test/hook");
    for (const [i, r] of releases.entries()) {
      expect(await text(deployer, (await records.releases.require(r.id)).env, secretContexts.appEnv("shop"))).toBe(`{"N":"${i}"}`);
    }
    const token = (await records.gitlabConnections.require(conn.id)).token;
    expect(await text(notifier, token, secretContexts.gitlabToken(conn.id))).toBe("glpat-x");
    // Idempotent: a second start finds nothing to do.
    expect(await resealLegacySecrets(records, api, log)).toBe(0);
  });
});
