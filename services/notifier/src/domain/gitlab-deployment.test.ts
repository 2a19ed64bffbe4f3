import { describe, expect, it } from "vitest";
import { ctxFixture, releaseFixture, SHA } from "../testing/fixtures.js";
import { deploymentFor } from "./gitlab-deployment.js";

describe("deploymentFor", () => {
  it("runs a rollout as running → success, with the environment, commit and ref", () => {
    const running = deploymentFor(ctxFixture("release.deploying"));
    expect(running).toMatchObject({ status: "running", subject: { environment: "production", sha: SHA, ref: "main" } });
    expect(deploymentFor(ctxFixture("release.live"))?.status).toBe("success");
  });

  it("ends a rollout that failed as failed, and one a newer release took over as canceled", () => {
    expect(
      deploymentFor(ctxFixture("release.failed", { release: releaseFixture({ status: "failed", reason: "unhealthy" }) }))?.status,
    ).toBe("failed");
    expect(
      deploymentFor(ctxFixture("release.failed", { release: releaseFixture({ status: "failed", reason: "superseded" }) }))?.status,
    ).toBe("canceled");
  });

  it("sets no deployment for a release that never rolled out, nor for the gates' events", () => {
    const { deployingAt: _never, ...waited } = releaseFixture({ status: "failed", reason: "superseded" });
    expect(deploymentFor(ctxFixture("release.failed", { release: waited }))).toBeUndefined();
    for (const event of ["release.awaiting_approval", "release.frozen", "release.rejected", "release.approved"] as const) {
      expect(deploymentFor(ctxFixture(event))).toBeUndefined();
    }
  });
});
