import { describe, expect, it } from "vitest";
import { notifyQueue } from "./notify.js";

describe("notify queue: gitlab-mr notices", () => {
  const notice = { kind: "gitlab-mr", event: "preview.stopped", app: "shop", iid: 42, reason: "merged", id: "d-1" } as const;

  it("takes a preview notice and names its job by event, app, merge request and id", () => {
    const parsed = notifyQueue.schema.parse(notice);
    expect(notifyQueue.jobId(parsed)).toBe("gitlab-mr.preview.stopped.shop.42.d-1");
    expect(notifyQueue.jobId({ kind: "slack", event: "release.live", buildId: "bld_1", releaseId: "rel_1" })).toBe(
      "slack.release.live.rel_1",
    );
  });

  it("refuses a notice without a merge request number, with an unknown event or with a build's fields", () => {
    expect(() => notifyQueue.schema.parse({ ...notice, iid: 0 })).toThrow(/iid is a merge request's number/);
    expect(() => notifyQueue.schema.parse({ ...notice, event: "release.live" })).toThrow();
    expect(() => notifyQueue.schema.parse({ ...notice, buildId: "bld_1" })).toThrow();
    expect(() => notifyQueue.schema.parse({ ...notice, id: "has:colon" })).toThrow();
  });
});
