import { describe, expect, it } from "vitest";
import { decideMergeRequest, previewTrust } from "./merge-request-event.js";

const SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const OLD = "ae73b50a8fa43b2a4a1d4c8e3f9b1e5f6a7b8c9d";

/** A Merge Request Hook body shaped as GitLab's documentation shows it (trimmed of fields Hoist ignores). */
function hook(attrs: Record<string, unknown> = {}, top: Record<string, unknown> = {}) {
  return {
    object_kind: "merge_request",
    event_type: "merge_request",
    user: { id: 7, name: "Ada", username: "ada", avatar_url: "" },
    project: { id: 42, name: "shop", web_url: "https://gitlab.example.com/acme/shop" },
    object_attributes: {
      id: 99,
      iid: 12,
      action: "open",
      state: "opened",
      title: "Checkout: pay with vouchers",
      url: "https://gitlab.example.com/acme/shop/-/merge_requests/12",
      author_id: 7,
      source_project_id: 42,
      target_project_id: 42,
      source_branch: "vouchers",
      target_branch: "main",
      last_commit: {
        id: SHA,
        message: "Vouchers at checkout\n\nWith tests.",
        title: "Vouchers at checkout",
        timestamp: "2026-12-03T10:00:00+00:00",
        url: `https://gitlab.example.com/acme/shop/-/commit/${SHA}`,
        author: { name: "Ada", email: "ada@example.com" },
      },
      ...attrs,
    },
    labels: [],
    changes: {},
    repository: { name: "shop" },
    ...top,
  };
}

describe("decideMergeRequest", () => {
  it("builds the newest commit of an opened or reopened merge request from its source branch", () => {
    for (const action of ["open", "reopen"]) {
      const d = decideMergeRequest(hook({ action }));
      expect(d).toEqual({
        action: "build",
        mr: {
          iid: 12,
          projectId: 42,
          sourceBranch: "vouchers",
          authorId: 7,
          fork: false,
          url: "https://gitlab.example.com/acme/shop/-/merge_requests/12",
          title: "Checkout: pay with vouchers",
        },
        sha: SHA,
        commit: {
          title: "Vouchers at checkout",
          author: "Ada",
          timestamp: "2026-12-03T10:00:00+00:00",
          url: `https://gitlab.example.com/acme/shop/-/commit/${SHA}`,
        },
      });
    }
  });

  it("builds an update that brought new commits (oldrev) and ignores one that did not (title, labels)", () => {
    expect(decideMergeRequest(hook({ action: "update", oldrev: OLD }))).toMatchObject({ action: "build", sha: SHA });
    expect(decideMergeRequest(hook({ action: "update" }))).toEqual({
      action: "ignore",
      reason: "merge request !12 updated without new commits",
    });
  });

  it("tears the preview down on close and on merge", () => {
    expect(decideMergeRequest(hook({ action: "close", state: "closed" }))).toMatchObject({
      action: "teardown",
      reason: "closed",
      mr: { iid: 12 },
    });
    expect(decideMergeRequest(hook({ action: "merge", state: "merged" }))).toMatchObject({
      action: "teardown",
      reason: "merged",
      mr: { iid: 12 },
    });
  });

  it("ignores actions that do not change the code (approvals)", () => {
    for (const action of ["approved", "unapproved", "approval", "unapproval"]) {
      expect(decideMergeRequest(hook({ action }))).toEqual({
        action: "ignore",
        reason: `merge request action "${action}" does not change a preview`,
      });
    }
  });

  it("marks a merge request from another project, or from a deleted source project, as a fork", () => {
    expect(decideMergeRequest(hook({ source_project_id: 77 }))).toMatchObject({ mr: { fork: true } });
    expect(decideMergeRequest(hook({ source_project_id: null }))).toMatchObject({ mr: { fork: true } });
  });

  it("rejects payloads that lack what a preview needs, naming the field", () => {
    expect(decideMergeRequest({ ...hook(), object_kind: "push" })).toEqual({
      action: "reject",
      message: 'merge request payload: object_kind: object_kind must be "merge_request"',
    });
    expect(decideMergeRequest(hook({ last_commit: { id: "HEAD" } }))).toMatchObject({
      action: "reject",
      message: expect.stringMatching(/^merge request payload: object_attributes\.last_commit\.id: /),
    });
    expect(decideMergeRequest(hook({ source_branch: "a..b" }))).toMatchObject({
      action: "reject",
      message: expect.stringMatching(/object_attributes\.source_branch: not a branch name git accepts/),
    });
    expect(decideMergeRequest(hook({ iid: 0 }))).toMatchObject({
      action: "reject",
      message: expect.stringMatching(/object_attributes\.iid/),
    });
    expect(decideMergeRequest(hook({ last_commit: undefined }))).toEqual({
      action: "reject",
      message: "merge request payload: object_attributes.last_commit: required to build the merge request",
    });
    // A teardown needs no commit: an MR whose source branch is gone can still be closed.
    expect(decideMergeRequest(hook({ action: "close", last_commit: undefined }))).toMatchObject({ action: "teardown" });
  });
});

describe("previewTrust", () => {
  const mr = { iid: 12, fork: false };
  it("allows Developer access and more", () => {
    for (const accessLevel of [30, 40, 50]) expect(previewTrust(mr, { forks: false, accessLevel })).toEqual({ ok: true });
  });

  it("refuses Reporters, Guests and non-members, saying why", () => {
    expect(previewTrust(mr, { forks: false, accessLevel: 20 })).toEqual({
      ok: false,
      reason:
        "the author of merge request !12 has only level 20 access to the project; previews are built for authors with Developer access (30) or more",
    });
    expect(previewTrust(mr, { forks: false, accessLevel: 10 })).toMatchObject({ ok: false });
    expect(previewTrust(mr, { forks: false, accessLevel: undefined })).toMatchObject({
      ok: false,
      reason: expect.stringContaining("has no access"),
    });
  });

  it("refuses forks unless the app allows them, and still checks the author then", () => {
    const fork = { iid: 3, fork: true };
    expect(previewTrust(fork, { forks: false, accessLevel: 40 })).toEqual({
      ok: false,
      reason: "merge request !3 comes from a fork; this app builds previews of forks only with previews.forks: true",
    });
    expect(previewTrust(fork, { forks: true, accessLevel: 40 })).toEqual({ ok: true });
    expect(previewTrust(fork, { forks: true, accessLevel: 20 })).toMatchObject({ ok: false });
  });
});
