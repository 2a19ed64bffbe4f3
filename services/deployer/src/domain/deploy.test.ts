import { type App, type GitlabFreezePeriod, type HeldLock, LockLostError, type NotifyEvent, type Release } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { recordDeadDeploy } from "../jobs/handlers.js";
import { type DeployPorts, deployRelease } from "./deploy.js";
import type { Policy } from "./gate.js";
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
function fakePorts(opts: {
  releases: Release[];
  deploy?: () => Promise<DeployOutcome>;
  lockFree?: boolean;
  loseLock?: boolean;
  policy?: Partial<Policy>;
  gitlab?: GitlabFreezePeriod[];
  now?: number;
  linked?: boolean;
}) {
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
    loadDeployment: async () => (opts.linked ? { ...app, gitlab: { connectionId: "glc_1", projectId: 7 } } : app),
    openEnv: async () => ({}),
    tryLock: async () => (opts.lockFree === false ? undefined : lock),
    sleepUntilUnlocked: async () => {},
    begin: async (r) => {
      const cur = releases.get(r.id)!;
      if (!["pending", "awaiting_approval", "frozen", "deploying"].includes(cur.status)) return { kind: "finished", status: cur.status };
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
    policy: async () => ({ requiredApprovals: 0, freezes: [], gitlabFreezes: false, ...opts.policy }),
    gitlabFreezes: async () => opts.gitlab ?? [],
    hold: async (r, to, fields) => {
      const cur = releases.get(r.id);
      if (!cur) return { kind: "missing" };
      if (cur.status === to && to === "awaiting_approval") return { kind: "state", status: cur.status };
      if (!["pending", "awaiting_approval", "frozen"].includes(cur.status)) return { kind: "state", status: cur.status };
      Object.assign(cur, { status: to, ...fields });
      events.push([`release.${to}`, r.id]);
      return { kind: "held", status: to };
    },
    now: () => opts.now ?? Date.now(),
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

describe("deployRelease: the environment's gates", () => {
  const friday = Date.parse("2026-12-04T17:30:00Z");
  const weekend = { cron: "0 18 * * 5", duration: "62h", timezone: "Europe/Berlin" };

  it("holds a release for approvals, without taking the lock or touching the target", async () => {
    const f = fakePorts({ releases: [rel("r1", 1)], policy: { requiredApprovals: 2 }, lockFree: false });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "awaiting_approval" });
    expect(f.releases.get("r1")).toMatchObject({ status: "awaiting_approval", requiredApprovals: 2 });
    expect(f.events).toEqual([["release.awaiting_approval", "r1"]]);
    expect(f.steps).toEqual(["awaiting approval: 0 of 2 people approved"]);
    // Run again (a retried job) with one approval: still waiting, nothing sent twice.
    f.releases.get("r1")!.approvals = [{ by: "user:1", name: "ada", via: "api", at: now }];
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "awaiting_approval" });
    expect(f.events).toHaveLength(1);
    expect(f.deploys()).toBe(0);
  });

  it("deploys a release once it has its approvals", async () => {
    const approvals = ["ada", "bob"].map((name, i) => ({ by: `user:${i}`, name, via: "api" as const, at: now }));
    const f = fakePorts({
      releases: [{ ...rel("r1", 1, "awaiting_approval"), requiredApprovals: 2, approvals }],
      policy: { requiredApprovals: 2 },
    });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "live" });
    expect(f.events).toEqual([
      ["release.deploying", "r1"],
      ["release.live", "r1"],
    ]);
  });

  it("freezes a release while a freeze is open (on the ports' clock) until the freeze ends, then deploys it", async () => {
    const f = fakePorts({ releases: [rel("r1", 1)], policy: { freezes: [weekend] }, now: friday });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({
      kind: "frozen",
      until: Date.parse("2026-12-07T07:00:00Z"),
    });
    expect(f.releases.get("r1")).toMatchObject({ status: "frozen", frozenUntil: "2026-12-07T07:00:00.000Z" });
    expect(f.deploys()).toBe(0);
    const later = fakePorts({ releases: [f.releases.get("r1")!], policy: { freezes: [weekend] }, now: Date.parse("2026-12-07T07:00:00Z") });
    expect(await deployRelease(later.ports, "r1", { lastAttempt: false })).toEqual({ kind: "live" });
  });

  it("lets an operator's deploy-now through the freeze, but never past missing approvals", async () => {
    const override = { by: "user:1", name: "ada", reason: "hotfix", at: now };
    const f = fakePorts({ releases: [{ ...rel("r1", 1, "frozen"), override }], policy: { freezes: [weekend] }, now: friday });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "live" });
    const g = fakePorts({ releases: [{ ...rel("r2", 1), override }], policy: { freezes: [weekend], requiredApprovals: 1 }, now: friday });
    expect(await deployRelease(g.ports, "r2", { lastAttempt: false })).toEqual({ kind: "awaiting_approval" });
  });

  it("a GitLab-linked app's freeze periods hold it too; an unlinked app's are not asked", async () => {
    const gitlab = [{ freeze_start: "0 0 * * 5", freeze_end: "0 0 * * 6", cron_timezone: "UTC" }];
    const f = fakePorts({ releases: [rel("r1", 1)], policy: { gitlabFreezes: true }, gitlab, now: friday, linked: true });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({
      kind: "frozen",
      until: Date.parse("2026-12-05T00:00:00Z"),
    });
    expect(f.releases.get("r1")?.freeze).toContain("GitLab freeze period");
    const g = fakePorts({ releases: [rel("r2", 1)], policy: { gitlabFreezes: true }, gitlab, now: friday });
    expect(await deployRelease(g.ports, "r2", { lastAttempt: false })).toEqual({ kind: "live" });
  });

  it("leaves a release rejected meanwhile alone", async () => {
    const f = fakePorts({ releases: [rel("r1", 1, "rejected")], policy: { requiredApprovals: 1 } });
    expect(await deployRelease(f.ports, "r1", { lastAttempt: false })).toEqual({ kind: "already", status: "rejected" });
    expect(f.deploys()).toBe(0);
  });
});
