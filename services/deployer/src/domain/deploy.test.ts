import { type App, type HeldLock, LockLostError, type NotifyEvent, type Release } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { recordDeadDeploy } from "../jobs/handlers.js";
import { type DeployPorts, deployRelease } from "./deploy.js";
import { type DeployOutcome, PermanentDeployError } from "./target.js";

const now = "2026-01-01T00:00:00.000Z";
const app: App = {
  name: "shop",
  branch: "main",
  repo: { sshUrl: "ssh://x" },
  target: { kind: "local", services: { web: { port: 1 } } },
  supersede: "running",
  tagBuilds: true,
  buildTimeoutSec: 1800,
  createdAt: now,
  updatedAt: now,
};
const rel = (id: string, number: number, status: Release["status"] = "pending"): Release => ({
  id,
  app: "shop",
  environment: "production",
  number,
  buildId: "bld_1",
  status,
  images: [{ service: "web", tag: `r/shop:web.${number}` }],
  createdAt: now,
});

/**
 * In-memory ports: the same state rules as the release lifecycle (each transition emits its
 * event, as the shared lifecycle's scripts do), to test the orchestration alone.
 */
function fakePorts(opts: { releases: Release[]; deploy?: () => Promise<DeployOutcome>; lockFree?: boolean; loseLock?: boolean }) {
  const releases = new Map(opts.releases.map((r) => [r.id, { ...r }]));
  const events: [NotifyEvent, string][] = [];
  const steps: string[] = [];
  let deploys = 0;
  let rejectLost: (e: Error) => void = () => {};
  const lost = new Promise<never>((_, reject) => {
    rejectLost = reject;
  });
  lost.catch(() => {});
  let lostErr: LockLostError | undefined;
  const lock: HeldLock = {
    key: "k",
    token: "1",
    lost,
    assertHeld: () => {
      if (lostErr) throw lostErr;
    },
    release: async () => {},
  };
  const ports: DeployPorts = {
    loadRelease: async (id) => releases.get(id),
    loadDeployment: async () => app,
    openEnv: async () => ({}),
    tryLock: async () => (opts.lockFree === false ? undefined : lock),
    sleepUntilUnlocked: async () => {},
    begin: async (r) => {
      const cur = releases.get(r.id)!;
      if (!["pending", "deploying"].includes(cur.status)) return { kind: "finished", status: cur.status };
      const newer = [...releases.values()].find((o) => o.number > r.number && (o.status === "live" || o.status === "deploying"));
      if (newer) {
        Object.assign(cur, { status: "failed", reason: "superseded" });
        events.push(["release.failed", r.id]);
        return { kind: "superseded", by: newer.id };
      }
      cur.status = "deploying";
      events.push(["release.deploying", r.id]);
      return { kind: "deploying" };
    },
    goLive: async (r) => {
      const prev = [...releases.values()].find((o) => o.status === "live");
      if (prev) prev.status = "retired";
      releases.get(r.id)!.status = "live";
      events.push(["release.live", r.id]);
      return prev ? { replaced: prev.id, rolledBack: false } : { rolledBack: false };
    },
    fail: async (r, reason) => {
      const cur = releases.get(r.id)!;
      if (!["pending", "deploying"].includes(cur.status)) return false;
      Object.assign(cur, { status: "failed", reason });
      events.push(["release.failed", r.id]);
      return true;
    },
    targetFor: () => ({
      deploy: async () => {
        deploys++;
        if (opts.loseLock) {
          lostErr = new LockLostError("lost");
          rejectLost(lostErr);
          return new Promise<DeployOutcome>(() => {});
        }
        return (opts.deploy ?? (async () => ({ ok: true }) as const))();
      },
    }),
    step: async (_id, line) => {
      steps.push(line);
    },
  };
  return { ports, releases, events, steps, deploys: () => deploys };
}

describe("deployRelease", () => {
  it("deploys, makes the release live, retires the old one and notifies deploying then live", async () => {
    const f = fakePorts({ releases: [rel("r1", 1, "live"), rel("r2", 2)] });
    expect(await deployRelease(f.ports, "r2", { lastAttempt: false })).toEqual({ kind: "live", replaced: "r1" });
    expect([f.releases.get("r1")?.status, f.releases.get("r2")?.status]).toEqual(["retired", "live"]);
    expect(f.events).toEqual([
      ["release.deploying", "r2"],
      ["release.live", "r2"],
    ]);
  });

  it("leaves a release that already finished alone (its outcome was sent by its transition)", async () => {
    const f = fakePorts({ releases: [rel("r0", 1, "retired"), rel("r1", 2, "live")] });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "already", status: "live" });
    expect(await deployRelease(f.ports, "r0", { lastAttempt: false })).toEqual({ kind: "already", status: "retired" });
    expect(f.deploys()).toBe(0);
    expect(f.events).toEqual([]);
  });

  it("stands down as superseded without touching the target when a newer release is live", async () => {
    const f = fakePorts({ releases: [rel("r1", 1), rel("r2", 2, "live")] });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "superseded", by: "r2" });
    expect(f.deploys()).toBe(0);
    expect(f.releases.get("r1")).toMatchObject({ status: "failed", reason: "superseded" });
    expect(f.events).toEqual([["release.failed", "r1"]]);
  });

  it("says locked when another deploy of the app holds the lock", async () => {
    const f = fakePorts({ releases: [rel("r1", 1)], lockFree: false });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "locked", unit: "shop" });
    expect(f.releases.get("r1")?.status).toBe("pending");
  });

  it("locks the deploy unit of the release's environment: the app for production, <app>@<env> for another", async () => {
    const f = fakePorts({ releases: [{ ...rel("r1", 1), environment: "staging" }], lockFree: false });
    const asked: string[] = [];
    const tryLock = f.ports.tryLock;
    f.ports.tryLock = async (unit, waiter) => {
      asked.push(unit);
      return tryLock(unit, waiter);
    };
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "locked", unit: "shop@staging" });
    expect(asked).toEqual(["shop@staging"]);
  });

  it("records an unhealthy outcome as failed with its reason", async () => {
    const f = fakePorts({ releases: [rel("r1", 1)], deploy: async () => ({ ok: false, reason: "did not answer" }) });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({
      kind: "failed",
      reason: "did not answer",
      permanent: true,
    });
    expect(f.releases.get("r1")).toMatchObject({ status: "failed", reason: "did not answer" });
    expect(f.events.at(-1)).toEqual(["release.failed", "r1"]);
  });

  it("rethrows a transient error (left deploying for the retry), but records it on the last attempt", async () => {
    const boom = async (): Promise<DeployOutcome> => {
      throw new Error("connect ECONNREFUSED podman.sock");
    };
    const f = fakePorts({ releases: [rel("r1", 1)], deploy: boom });
    await expect(deployRelease(f.ports, "r1", { lastAttempt: false })).rejects.toThrow("ECONNREFUSED");
    expect(f.releases.get("r1")?.status).toBe("deploying");
    expect(await deployRelease(f.ports, "r1", { lastAttempt: true })).toMatchObject({ kind: "failed", permanent: false });
    expect(f.releases.get("r1")).toMatchObject({
      status: "failed",
      reason: "gave up after the last attempt: connect ECONNREFUSED podman.sock",
    });
  });

  it("records a permanent error at once", async () => {
    const f = fakePorts({
      releases: [rel("r1", 1)],
      deploy: async () => {
        throw new PermanentDeployError("no such service");
      },
    });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({
      kind: "failed",
      reason: "no such service",
      permanent: true,
    });
  });

  it("stops at once when the lock is lost mid-deploy, never going live", async () => {
    const f = fakePorts({ releases: [rel("r1", 1)], loseLock: true });
    await expect(deployRelease(f.ports, "r1", { lastAttempt: false })).rejects.toBeInstanceOf(LockLostError);
    expect(f.releases.get("r1")?.status).toBe("deploying");
  });
});

describe("recordDeadDeploy", () => {
  it("fails a release whose job died for good while it was deploying, and only then", async () => {
    const f = fakePorts({ releases: [rel("r1", 1, "deploying"), rel("r2", 2, "live")] });
    const stalled = new Error("job stalled more than allowable limit");
    const transient = new Error("ECS said ThrottlingException");
    expect(await recordDeadDeploy(f.ports, { data: { releaseId: "r1" }, attemptsMade: 1, opts: { attempts: 5 } }, transient)).toBe(false);
    // A job that stalled too often is failed for good by BullMQ even with attempts left.
    expect(await recordDeadDeploy(f.ports, { data: { releaseId: "r1" }, attemptsMade: 1, opts: { attempts: 5 } }, stalled)).toBe(true);
    expect(f.releases.get("r1")).toMatchObject({
      status: "failed",
      reason: "the deploy job failed: the worker running it stopped (crash or kill) 4 times; not retried again",
    });
    expect(await recordDeadDeploy(f.ports, { data: { releaseId: "r2" }, attemptsMade: 5, opts: { attempts: 5 } }, stalled)).toBe(false);
    expect(f.releases.get("r2")?.status).toBe("live");
  });
});
