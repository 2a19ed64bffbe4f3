import { describe, expect, it } from "vitest";
import { SHA } from "../testing/fixtures.js";
import { previewNoteBody, previewNoteMarker } from "./preview-note.js";

const release = {
  kind: "release" as const,
  app: "shop",
  url: "http://mr-42.shop.localhost",
  sha: SHA,
  title: "Fix <checkout> & *totals*\n\nbody",
  buildNumber: 12,
  buildUrl: "https://hoist.example.com/builds/bld_abc",
};

describe("previewNoteBody", () => {
  it("starts with the app's marker and gives the URL, status, short sha and commit title (first line, escaped)", () => {
    const body = previewNoteBody({ ...release, event: "release.live" });
    expect(body.startsWith(previewNoteMarker("shop"))).toBe(true);
    expect(body).toContain("| **URL** | <http://mr-42.shop.localhost> |");
    expect(body).toContain("✅ live");
    expect(body).toContain("`3f2a9c1b` Fix \\<checkout\\> & \\*totals\\*");
    expect(body).not.toContain("body");
    expect(body).toContain("[#12](https://hoist.example.com/builds/bld_abc)");
  });

  it("says why a rollout failed; a release without a host says so", () => {
    const body = previewNoteBody({ ...release, url: undefined, event: "release.failed", reason: "health check failed" });
    expect(body).toContain("❌ failed: health check failed");
    expect(body).toContain("(its target has no host name)");
  });

  it("says a refused merge request was not built and why; a stopped preview was stopped and why", () => {
    expect(previewNoteBody({ kind: "refused", app: "shop", reason: "merge requests from forks are not built" })).toContain(
      "No preview was built for this merge request: merge requests from forks are not built.",
    );
    const stopped = previewNoteBody({ kind: "stopped", app: "shop", reason: "merged", url: "http://mr-42.shop.localhost" });
    expect(stopped).toContain("The preview at <http://mr-42.shop.localhost> was stopped: the merge request was merged.");
    expect(previewNoteBody({ kind: "stopped", app: "shop", reason: "removed by ops" })).toContain("was stopped: removed by ops.");
    expect(previewNoteMarker("shop")).not.toBe(previewNoteMarker("shop-api"));
  });
});
