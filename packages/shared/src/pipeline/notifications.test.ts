import { describe, expect, it } from "vitest";
import { destinationsFor } from "./notifications.js";

describe("notification destinations", () => {
  const linked = { gitlab: { connectionId: "glc_1", projectId: 1 }, outgoingWebhook: undefined };
  const hooked = { gitlab: undefined, outgoingWebhook: { url: "https://example.test/h", secret: {} as never } };

  it("tells Slack only of outcomes worth a message", () => {
    expect(destinationsFor("build.pending")).toEqual(["gitlab-status", "webhook"]);
    expect(destinationsFor("release.live")).toEqual(["slack", "gitlab-status", "webhook"]);
    expect(destinationsFor("build.failed")).toEqual(["slack", "gitlab-status", "webhook"]);
  });

  it("leaves out what the app has not configured, when the app is at hand", () => {
    expect(destinationsFor("build.pending", { gitlab: undefined, outgoingWebhook: undefined })).toEqual([]);
    expect(destinationsFor("build.pending", linked)).toEqual(["gitlab-status"]);
    expect(destinationsFor("release.live", hooked)).toEqual(["slack", "webhook"]);
  });
});
