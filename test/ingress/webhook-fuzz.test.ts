import { spawnSync } from "node:child_process";
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

/**
 * Branch and tag names git accepts, drawn wide: printable ASCII that git allows anywhere (shell
 * and URL characters included), dots and '@' where git allows them, and non-ASCII text.
 */
const refChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(..."abcxyzABCXYZ0189-_/") },
  { weight: 3, arbitrary: fc.constantFrom(..."!\"#$%&'()+,;<=>@`{|}.") },
  { weight: 1, arbitrary: fc.constantFrom("é", "ü", "ß", "日本", "ø", "🚀") },
);
const refName = fc
  .array(refChar, { minLength: 1, maxLength: 40 })
  .map((cs) => cs.join(""))
  // git check-ref-format's rules for the characters above: no empty, dot-led or .lock component,
  // no '..', no '@{', not '@' alone, no trailing '.'. The property checks each against git itself.
  .filter((n) => {
    const parts = n.split("/");
    if (parts.some((c) => c === "" || c.startsWith(".") || c.endsWith(".lock"))) return false;
    return !n.includes("..") && !n.includes("@{") && n !== "@" && !n.endsWith(".");
  });
const hexSha = fc.stringMatching(/^[0-9a-f]{40}$/).filter((x) => x !== "0".repeat(40));
/** Fields GitLab sends that a build does not need: any JSON, never one of the fields that matter. */
const extraFields = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !(fieldNames as readonly string[]).includes(k) && k !== "__proto__"),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 4 },
);
const validPush = fc.record({
  tag: fc.boolean(),
  name: refName,
  after: hexSha,
  before: fc.option(hexSha, { nil: undefined }),
  title: fc.string({ maxLength: 80 }),
  extra: extraFields,
  idempotencyKey: fc.option(fc.uuid(), { nil: undefined }),
});

describe("webhook fuzzing (fast-check): never a 5xx, never a job from a rejected request", () => {
  let h: ApiHarness;
  let hook: string;
  let token: string;

  beforeAll(async () => {
    h = await startApi({ env: { HOIST_WEBHOOK_MAX_BYTES: "4096" } });
    const res = await h.api("POST", "/apps", { name: "fuzz", branch: "*", tagBuilds: true, repo: { sshUrl: "git@h:a/fuzz.git" } });
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

  it("accepts every valid push and tag push (refs git accepts, shell and non-ASCII characters included): 202 and a build of that ref and commit", async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(validPush, async (p) => {
        const ref = `refs/${p.tag ? "tags" : "heads"}/${p.name}`;
        // The generator is meant to yield only what GitLab can send; git is the judge of that.
        const git = spawnSync("git", ["check-ref-format", ref]);
        expect(git.status, `git check-ref-format ${JSON.stringify(ref)}`).toBe(0);
        const base = p.tag ? tagPushPayload("v1", { checkout: p.after }) : pushPayload({ after: p.after, commitCount: 1 });
        const commits = p.tag ? [] : [{ ...(base.commits[0] as object), id: p.after, title: p.title }];
        const body = {
          ...p.extra,
          ...base,
          ref,
          ...(p.tag ? {} : { before: p.before ?? "0".repeat(40), commits }),
        };
        const raw = JSON.stringify(body);
        fc.pre(Buffer.byteLength(raw) <= 4096);
        const res = await deliver(hook, {
          event: p.tag ? "Tag Push Hook" : "Push Hook",
          token,
          idempotencyKey: p.idempotencyKey,
          body: null,
          raw,
        });
        expect(res.status, JSON.stringify(res.body)).toBe(202);
        accepted++;
        const buildId = res.body.buildId as string;
        expect(buildId).toEqual(expect.any(String));
        const build = await h.deps.records.builds.require(buildId);
        expect({ ref: build.ref, sha: build.sha, trigger: build.trigger }).toEqual({
          ref: p.name,
          sha: p.after,
          trigger: p.tag ? "tag_push" : "push",
        });
        expect(await h.deps.queues.queue("build").getJob(buildId)).toBeDefined();
      }),
      // No shrinking: the first failing push, as generated, is reason enough (and a loaded machine shrinks slowly).
      { numRuns: 100, endOnFailure: true },
    );
    expect(accepted).toBeGreaterThan(60);
  }, 120_000);
});
