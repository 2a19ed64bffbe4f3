import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushPayload, tagPushPayload } from "../support/api/fixtures.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { deliver } from "./webhook-helpers.js";

const headerText = fc.stringMatching(/^[!-~][ -~]{0,60}$/);
const events = fc.oneof(
  fc.constantFrom("Push Hook", "Tag Push Hook", "Merge Request Hook", "Pipeline Hook", "System Hook", "push hook", ""),
  headerText,
);
const fieldNames = [
  "object_kind",
  "before",
  "after",
  "ref",
  "checkout_sha",
  "commits",
  "total_commits_count",
  "project_id",
  "project",
] as const;

/** A GitLab-shaped payload with some fields replaced by arbitrary JSON, or deleted. */
const mutatedPayload = fc
  .tuple(
    fc.constantFrom("push", "tag"),
    fc.dictionary(fc.constantFrom(...fieldNames), fc.oneof(fc.jsonValue(), fc.constant(undefined)), { maxKeys: 4 }),
  )
  .map(([kind, over]) => ({ ...(kind === "push" ? pushPayload() : tagPushPayload("v1")), ...over }));

const rawBody = fc.oneof(
  mutatedPayload.map((p) => JSON.stringify(p)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString("latin1")),
);

describe("webhook fuzzing (fast-check): never a 5xx, never a job from a rejected request", () => {
  let h: ApiHarness;
  let hook: string;
  let token: string;

  beforeAll(async () => {
    h = await startApi({ env: { HOIST_WEBHOOK_MAX_BYTES: "4096" } });
    const res = await h.api("POST", "/apps", { name: "fuzz", branch: "*", repo: { sshUrl: "git@h:a/fuzz.git" } });
    hook = `${h.url}${new URL(res.body.webhook.url).pathname}`;
    token = res.body.webhook.token;
  });
  afterAll(async () => {
    await h?.close();
  });

  it("answers every delivery with 200, 202, 400, 401 or 413, and only a 202 adds a build", async () => {
    const count = async () => (await h.deps.queues.queue("build").getJobCounts("waiting")).waiting ?? 0;
    await fc.assert(
      fc.asyncProperty(
        events,
        fc.oneof(fc.constant(token), fc.constant(undefined), headerText),
        fc.option(headerText, { nil: undefined }),
        rawBody,
        fc.dictionary(
          fc.constantFrom("content-type", "webhook-id", "webhook-signature", "webhook-timestamp", "x-gitlab-instance"),
          headerText,
          {
            maxKeys: 3,
          },
        ),
        async (event, tok, idempotencyKey, raw, headers) => {
          const before = await count();
          const res = await deliver(hook, { event: event || undefined, token: tok, idempotencyKey, body: null, raw, headers });
          expect([200, 202, 400, 401, 413]).toContain(res.status);
          const added = (await count()) - before;
          expect(added).toBe(res.status === 202 ? 1 : 0);
          if (res.status !== 202 && res.status !== 200) expect(res.body.error.code).toEqual(expect.any(String));
          if (tok !== token) expect(res.status).toBe(401);
        },
      ),
      { numRuns: 250 },
    );
  });
});
