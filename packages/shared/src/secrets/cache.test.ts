import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cachedSecretBox } from "./cache.js";
import { LocalSecretBox } from "./local.js";
import { type SecretBox, secretContexts } from "./sealed.js";

/** A box that counts what reaches it. */
function counting(inner: SecretBox) {
  const opened: string[] = [];
  const box: SecretBox = {
    seal: (p, c) => inner.seal(p, c),
    needsReseal: (s) => inner.needsReseal(s),
    async open(sealed, context, forApp) {
      opened.push(`${context.app}/${context.purpose}/${forApp ?? "-"}`);
      return inner.open(sealed, context, forApp);
    },
  };
  return { box, opened };
}

describe("cachedSecretBox: a secret opened again within its time is not unwrapped again", () => {
  const inner = new LocalSecretBox(randomBytes(32));

  it("serves a repeat from memory until the time passes, per sealed value, context and app", async () => {
    let t = 0;
    const { box, opened } = counting(inner);
    const cached = cachedSecretBox(box, { ttlMs: 60_000, now: () => t });
    const url = await inner.seal("https://hooks.slack.test/canary", secretContexts.slackWebhookUrl("shop"));
    expect((await cached.open(url, secretContexts.slackWebhookUrl("shop"))).toString()).toBe("https://hooks.slack.test/canary");
    const again = await cached.open(url, secretContexts.slackWebhookUrl("shop"));
    expect(again.toString()).toBe("https://hooks.slack.test/canary");
    // A caller that wipes its copy does not wipe the cache's.
    again.fill(0);
    expect((await cached.open(url, secretContexts.slackWebhookUrl("shop"))).toString()).toBe("https://hooks.slack.test/canary");
    expect(opened).toEqual(["shop/slack-webhook-url/-"]);

    // Another context is opened (and refused), never served from the cache.
    await expect(cached.open(url, secretContexts.slackWebhookUrl("other"))).rejects.toThrow();
    // A token opened for another app is opened again (its first use for that app is audited).
    const token = await inner.seal("glpat-canary", secretContexts.gitlabToken("glc_1"));
    await cached.open(token, secretContexts.gitlabToken("glc_1"), "shop");
    await cached.open(token, secretContexts.gitlabToken("glc_1"), "blog");
    await cached.open(token, secretContexts.gitlabToken("glc_1"), "shop");
    // A changed secret is a new sealed value.
    const changed = await inner.seal("https://hooks.slack.test/new", secretContexts.slackWebhookUrl("shop"));
    expect((await cached.open(changed, secretContexts.slackWebhookUrl("shop"))).toString()).toBe("https://hooks.slack.test/new");
    t = 60_001;
    await cached.open(url, secretContexts.slackWebhookUrl("shop"));
    expect(opened).toEqual([
      "shop/slack-webhook-url/-",
      "other/slack-webhook-url/-",
      "glc_1/gitlab-token/shop",
      "glc_1/gitlab-token/blog",
      "shop/slack-webhook-url/-",
      "shop/slack-webhook-url/-",
    ]);
  });

  it("keeps at most `max` secrets, and is off with a time of 0", async () => {
    const { box, opened } = counting(inner);
    const cached = cachedSecretBox(box, { ttlMs: 60_000, max: 2 });
    const sealed = await Promise.all(["a", "b", "c"].map((app) => inner.seal(`v-${app}`, secretContexts.appEnv(app))));
    for (const [i, app] of ["a", "b", "c", "a"].entries()) await cached.open(sealed[i % 3] as never, secretContexts.appEnv(app));
    expect(opened).toEqual(["a/env/-", "b/env/-", "c/env/-", "a/env/-"]);
    expect(cachedSecretBox(box, { ttlMs: 0 })).toBe(box);
  });
});
