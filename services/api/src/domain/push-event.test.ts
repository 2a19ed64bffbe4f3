import { describe, expect, it } from "vitest";
import { matchesBranchFilter } from "./branch-filter.js";
import { decidePush, isValidGitRef } from "./push-event.js";

const A = "a".repeat(40);
const B = "b".repeat(40);
const Z = "0".repeat(40);
const app = { branch: "main", tagBuilds: true };
const push = (over: Record<string, unknown> = {}) => ({
  object_kind: "push",
  before: B,
  after: A,
  ref: "refs/heads/main",
  checkout_sha: A,
  ...over,
});

describe("decidePush", () => {
  it("builds checkout_sha with the head commit's details", () => {
    const d = decidePush(
      "Push Hook",
      push({
        commits: [{ id: A, message: "Fix login\n\nbody", timestamp: "2026-01-01T00:00:00+00:00", url: "u", author: { name: "Ann" } }],
      }),
      app,
    );
    expect(d).toEqual({
      action: "build",
      trigger: "push",
      ref: "main",
      sha: A,
      before: B,
      commit: { title: "Fix login", author: "Ann", timestamp: "2026-01-01T00:00:00+00:00", url: "u" },
    });
  });

  it("names the pusher by GitLab username when the payload does; an odd one is dropped, not refused", () => {
    expect(decidePush("Push Hook", push({ user_username: "jsmith" }), app)).toMatchObject({ action: "build", pusher: "jsmith" });
    for (const odd of ["two words", "", 42, null, "x".repeat(256)]) {
      const d = decidePush("Push Hook", push({ user_username: odd }), app);
      expect(d.action).toBe("build");
      expect(d).not.toHaveProperty("pusher");
    }
  });

  it("uses checkout_sha for tags, not after", () => {
    expect(
      decidePush("Tag Push Hook", push({ object_kind: "tag_push", ref: "refs/tags/v1", after: B, checkout_sha: A }), app),
    ).toMatchObject({
      action: "build",
      trigger: "tag_push",
      ref: "v1",
      sha: A,
    });
  });

  it("ignores deletions, unmatched branches, tags when off and other events", () => {
    expect(decidePush("Push Hook", push({ after: Z, checkout_sha: null }), app)).toEqual({
      action: "ignore",
      reason: "branch main was deleted",
    });
    expect(decidePush("Push Hook", push({ ref: "refs/heads/dev" }), app)).toMatchObject({ action: "ignore" });
    expect(decidePush("Tag Push Hook", push({ object_kind: "tag_push", ref: "refs/tags/v1" }), { ...app, tagBuilds: false })).toMatchObject(
      { action: "ignore" },
    );
    expect(decidePush("Note Hook", { anything: 1 }, app)).toMatchObject({ action: "ignore" });
    expect(decidePush(undefined, push(), app)).toMatchObject({ action: "ignore" });
  });

  it("rejects push payloads lacking what a build needs, naming the field", () => {
    expect(decidePush("Push Hook", push({ checkout_sha: null }), app)).toEqual({
      action: "reject",
      message: expect.stringMatching(/checkout_sha/),
    });
    expect(decidePush("Push Hook", push({ ref: undefined }), app)).toEqual({ action: "reject", message: expect.stringMatching(/: ref: /) });
    expect(decidePush("Push Hook", push({ after: "xyz" }), app)).toEqual({ action: "reject", message: expect.stringMatching(/: after: /) });
    expect(decidePush("Push Hook", push({ object_kind: "tag_push" }), app)).toMatchObject({ action: "reject" });
    expect(decidePush("Push Hook", push({ ref: "refs/tags/v1" }), app)).toMatchObject({ action: "reject" });
    expect(decidePush("Push Hook", [1, 2], app)).toMatchObject({ action: "reject" });
    expect(decidePush("Push Hook", null, app)).toMatchObject({ action: "reject" });
  });
});

describe("matchesBranchFilter", () => {
  it("matches exact names and GitLab wildcards", () => {
    expect(matchesBranchFilter("main", "main")).toBe(true);
    expect(matchesBranchFilter("main", "main2")).toBe(false);
    expect(matchesBranchFilter("release/*", "release/1.2")).toBe(true);
    expect(matchesBranchFilter("release/*", "hotfix/1")).toBe(false);
    expect(matchesBranchFilter("*", "any/thing")).toBe(true);
    expect(matchesBranchFilter("v1.*", "v1x2")).toBe(false);
  });
});

describe("isValidGitRef (git check-ref-format's rules)", () => {
  it("accepts what git accepts, shell characters included, and refuses the rest", () => {
    for (const ok of [
      "refs/heads/main",
      "refs/heads/feat/x-1",
      "refs/tags/v1.0.0",
      "refs/heads/a;b",
      "refs/heads/$(id)",
      "refs/heads/@x",
    ]) {
      expect(isValidGitRef(ok), ok).toBe(true);
    }
    for (const bad of [
      "refs/tags/v1:latest",
      "refs/heads/a..b",
      "refs/heads/a b",
      "refs/heads/x\u0000y",
      "refs/heads/a~1",
      "refs/heads/a^",
      "refs/heads/a?",
      "refs/heads/a*",
      "refs/heads/a[b",
      "refs/heads/a\\b",
      "refs/heads/a@{1}",
      "refs/heads/a/",
      "refs/heads/a.",
      "refs/heads/a//b",
      "refs/heads/.hidden",
      "refs/heads/x.lock",
    ]) {
      expect(isValidGitRef(bad), bad).toBe(false);
    }
  });
});
