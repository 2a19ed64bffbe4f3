import { describe, expect, it } from "vitest";
import { buildFixture, ctxFixture, releaseFixture, SHA } from "../testing/fixtures.js";
import { type CommitStatusUpdate, commitStatusesFor, isRefusedTransition, isStale } from "./gitlab-status.js";

const target = "https://hoist.example.com/builds/bld_abc";
const base = { sha: SHA, ref: "main", targetUrl: target };

describe("commitStatusesFor", () => {
  it("maps build events onto hoist/build (deploys are their environments' statuses)", () => {
    expect(commitStatusesFor(ctxFixture("build.pending"))).toEqual([
      { ...base, name: "hoist/build", state: "pending", description: "Build #12 queued" },
    ]);
    expect(commitStatusesFor(ctxFixture("build.running"))).toEqual([
      { ...base, name: "hoist/build", state: "pending", description: "Build #12 queued" },
      { ...base, name: "hoist/build", state: "running", description: "Building #12" },
    ]);
    expect(commitStatusesFor(ctxFixture("build.succeeded"))).toEqual([
      { ...base, name: "hoist/build", state: "success", description: "Build #12 succeeded" },
    ]);
    expect(commitStatusesFor(ctxFixture("build.failed", { build: buildFixture({ reason: "docker build exited 1" }) }))).toEqual([
      { ...base, name: "hoist/build", state: "failed", description: "Build #12 failed: docker build exited 1" },
    ]);
    expect(commitStatusesFor(ctxFixture("build.canceled", { build: buildFixture({ canceledBy: "superseded" }) }))).toEqual([
      { ...base, name: "hoist/build", state: "canceled", description: "Build #12 superseded by a newer push" },
    ]);
  });

  it("maps release events onto hoist/deploy:<environment>", () => {
    expect(commitStatusesFor(ctxFixture("release.deploying"))).toEqual([
      { ...base, name: "hoist/deploy:production", state: "running", description: "Deploying release #3" },
    ]);
    expect(commitStatusesFor(ctxFixture("release.live"))).toEqual([
      { ...base, name: "hoist/deploy:production", state: "success", description: "Release #3 is live" },
    ]);
    expect(commitStatusesFor(ctxFixture("release.failed", { release: releaseFixture({ reason: "unhealthy" }) }))).toEqual([
      { ...base, name: "hoist/deploy:production", state: "failed", description: "Release #3 failed: unhealthy" },
    ]);
    expect(commitStatusesFor(ctxFixture("release.rolled_back", { release: releaseFixture({ reason: "unhealthy" }) }))).toEqual([
      { ...base, name: "hoist/deploy:production", state: "failed", description: "Release #3 rolled back: unhealthy" },
    ]);
  });

  it("maps the gates' events onto the release's environment: waiting, approved, frozen, rejected", () => {
    const staging = (over: Partial<ReturnType<typeof releaseFixture>>) =>
      releaseFixture({ ...over, ...({ environment: "staging" } as Partial<ReturnType<typeof releaseFixture>>) });
    const waiting = staging({
      status: "awaiting_approval",
      requiredApprovals: 2,
      approvals: [{ by: "user:7", name: "ada", via: "slack", at: "2026-01-01T10:03:00.000Z" }],
    });
    expect(commitStatusesFor(ctxFixture("release.awaiting_approval", { release: waiting }))).toEqual([
      { ...base, name: "hoist/deploy:staging", state: "pending", description: "Release #3 awaits approval (1 of 2)" },
    ]);
    expect(
      commitStatusesFor(ctxFixture("release.frozen", { release: staging({ status: "frozen", frozenUntil: "2026-01-05T07:00:00.000Z" }) })),
    ).toEqual([
      { ...base, name: "hoist/deploy:staging", state: "pending", description: "Release #3 frozen until 2026-01-05T07:00:00.000Z" },
    ]);
    const rejection = { by: "user:8", name: "bob", via: "api" as const, at: "2026-01-01T10:05:00.000Z", reason: "not on a Friday" };
    expect(commitStatusesFor(ctxFixture("release.rejected", { release: staging({ status: "rejected", rejection }) }))).toEqual([
      { ...base, name: "hoist/deploy:staging", state: "canceled", description: "Release #3 rejected by bob: not on a Friday" },
    ]);
  });

  it("strips refs/heads/ from the ref and keeps descriptions within GitLab's 255 characters", () => {
    const [u] = commitStatusesFor(
      ctxFixture("build.failed", { build: buildFixture({ ref: "refs/heads/release/1.2", reason: "x".repeat(400) }) }),
    );
    expect(u?.ref).toBe("release/1.2");
    expect(u?.description).toHaveLength(255);
    expect(u?.description.endsWith("…")).toBe(true);
  });
});

describe("isStale", () => {
  it("never sends an unfinished state once the records show the build or release finished", () => {
    const [pending, running] = commitStatusesFor(ctxFixture("build.running")) as [CommitStatusUpdate, CommitStatusUpdate];
    // Behind a running build, but GitLab refuses that step itself: sent, so a late pending still lands first.
    expect(isStale(pending, { build: buildFixture({ status: "running" }) })).toBe(false);
    expect(isStale(pending, { build: buildFixture({ status: "failed" }) })).toBe(true);
    expect(isStale(running, { build: buildFixture({ status: "running" }) })).toBe(false);
    expect(isStale(running, { build: buildFixture({ status: "succeeded" }) })).toBe(true);
    const success = commitStatusesFor(ctxFixture("build.succeeded"))[0]!;
    expect(isStale(success, { build: buildFixture({ status: "succeeded" }) })).toBe(false);
    const deploying = commitStatusesFor(ctxFixture("release.deploying"))[0]!;
    expect(isStale(deploying, { build: buildFixture(), release: releaseFixture({ status: "live" }) })).toBe(true);
    expect(isStale(deploying, { build: buildFixture(), release: releaseFixture({ status: "deploying" }) })).toBe(false);
    const deployPending = commitStatusesFor(ctxFixture("release.awaiting_approval"))[0]!;
    expect(isStale(deployPending, { build: buildFixture(), release: releaseFixture({ status: "awaiting_approval" }) })).toBe(false);
    expect(isStale(deployPending, { build: buildFixture(), release: releaseFixture({ status: "deploying" }) })).toBe(false);
    expect(isStale(deployPending, { build: buildFixture(), release: releaseFixture({ status: "retired" }) })).toBe(true);
    expect(isStale(deployPending, { build: buildFixture(), release: releaseFixture({ status: "rejected" }) })).toBe(true);
  });
});

describe("isRefusedTransition", () => {
  it("recognises GitLab's refusal of a state transition", () => {
    expect(isRefusedTransition(400, "Cannot transition status via :run from :success")).toBe(true);
    expect(
      isRefusedTransition(400, 'Cannot transition status via :enqueue from :pending (Reason(s): Status cannot transition via "enqueue")'),
    ).toBe(true);
    expect(isRefusedTransition(400, "state does not have a valid value")).toBe(false);
    expect(isRefusedTransition(404, "Cannot transition status via :run from :success")).toBe(false);
  });
});
