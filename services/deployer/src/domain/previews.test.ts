import {
  type App,
  canMovePreview,
  type Environment,
  environmentUrl,
  type Image,
  type Preview,
  type PreviewsPayload,
  type Sealed,
} from "@hoist/shared";
import { describe, expect, it } from "vitest";
import {
  closePreview,
  enforcePreviewLimits,
  openPreview,
  type PreviewNotice,
  type PreviewPorts,
  previewRef,
  previewTarget,
  trustOf,
} from "./previews.js";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const sha = (c: string) => c.repeat(40);
const sealed = (what: string): Sealed => ({ v: 1, provider: "local", keyId: "k", encryptedKey: "", iv: "", tag: "", ciphertext: what });

function appOf(previews: Partial<NonNullable<App["previews"]>> = {}): App {
  return {
    name: "shop",
    branch: "main",
    repo: { sshUrl: "ssh://x" },
    target: { kind: "local", services: { web: { port: 8080, healthPath: "/healthz", replicas: 2 }, api: { port: 8081 } } },
    supersede: "running",
    tagBuilds: true,
    buildTimeoutSec: 1800,
    gitlab: { connectionId: "glc_1", projectId: 1 },
    previews: { enabled: true, from: "production", ttlHours: 72, max: 5, hosts: "mr-{iid}.{app}.{domain}", forks: false, ...previews },
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0).toISOString(),
  };
}

type FakeBuild = {
  id: string;
  number: number;
  sha: string;
  iid: number;
  status: "queued" | "running" | "succeeded" | "canceled";
  once: string;
};

/**
 * In-memory ports with the records' rules: the preview lifecycle's transition table, one build per
 * once-key, an environment per name, a deploy lock per unit, running units of containers.
 */
function world(given: App | null = appOf(), access: Record<number, number> = { 7: 30 }) {
  const app = given ?? undefined;
  const s = {
    now: T0,
    previews: new Map<number, Preview>(),
    envs: new Map<string, Environment>(),
    builds: [] as FakeBuild[],
    units: new Map<string, string[]>(),
    locked: new Set<string>(),
    notices: [] as PreviewNotice[],
    closes: [] as { iid: number; reason: string; id: string }[],
    accessAsked: 0,
    /** The registry: tag → digest (a manifest delete untags every tag of its digest, as registry v2 does). */
    registry: new Map<string, string>(),
    /** Previews (iids) with a teardown job waiting or running. */
    pending: new Set<number>(),
    /** Images of other builds and releases of the app. */
    others: [] as Image[],
    /** Throw once at the named step (a crash there). */
    crashAt: undefined as string | undefined,
  };
  const crash = (step: string) => {
    if (s.crashAt === step) {
      s.crashAt = undefined;
      throw new Error(`crash at ${step}`);
    }
  };
  const iso = () => new Date(s.now).toISOString();
  const production: Environment = {
    app: "shop",
    name: "production",
    target: app?.target ?? { kind: "local", services: {} },
    env: sealed("production vars"),
    auto: true,
    requiredApprovals: 0,
    freezes: [],
    createdAt: iso(),
    updatedAt: iso(),
  };
  const ports: PreviewPorts = {
    loadApp: async (name) => (app && name === app.name ? app : undefined),
    accessLevel: async (_app, userId) => {
      s.accessAsked++;
      return access[userId];
    },
    getPreview: async (_app, iid) => s.previews.get(iid),
    async upsertPreview(appName, iid, fields, unset = []) {
      const cur = s.previews.get(iid);
      if (cur && !canMovePreview(cur.status, fields.status)) return false;
      if (!cur && fields.status !== "building" && fields.status !== "refused") throw new Error("bad initial status");
      const next = { ...(cur ?? { app: appName, iid, createdAt: iso() }), ...fields, updatedAt: iso() } as Preview;
      for (const u of unset) delete next[u];
      s.previews.set(iid, next);
      return true;
    },
    async movePreview(_app, iid, from, fields) {
      crash(`move:${fields.status}`);
      const cur = s.previews.get(iid);
      if (!cur || !from.includes(cur.status)) return false;
      if (!canMovePreview(cur.status, fields.status)) throw new Error(`illegal ${cur.status} → ${fields.status}`);
      s.previews.set(iid, { ...cur, ...fields, updatedAt: iso() });
      return true;
    },
    async patchPreview(_app, iid, fields) {
      const cur = s.previews.get(iid);
      if (cur) s.previews.set(iid, { ...cur, ...fields, updatedAt: iso() });
    },
    getEnvironment: async (_app, name) => (name === "production" ? production : s.envs.get(name)),
    async putEnvironment(_app, name, target, env) {
      const cur = s.envs.get(name);
      s.envs.set(name, {
        app: "shop",
        name,
        target,
        ...(env ? { env } : {}),
        auto: false,
        requiredApprovals: 0,
        freezes: [],
        createdAt: cur?.createdAt ?? iso(),
        updatedAt: iso(),
      });
    },
    async deleteEnvironment(_app, name) {
      crash("deleteEnvironment");
      s.envs.delete(name);
    },
    previewVariables: async (_app, from, environment, fork) => sealed(`${fork ? "" : `${from.name} vars + `}overrides for ${environment}`),
    async createBuild(_app, job) {
      const once = `${job.iid}:${job.sha}:${job.deliveryId}`;
      const found = s.builds.find((b) => b.once === once);
      if (found) return { id: found.id, number: found.number, created: false };
      const b: FakeBuild = {
        id: `bld_${s.builds.length + 1}`,
        number: s.builds.length + 1,
        sha: job.sha,
        iid: job.iid,
        status: "queued",
        once,
      };
      s.builds.push(b);
      s.units.set(`shop@mr-${job.iid}`, [`container of ${b.id}`, "route", "network"]);
      s.registry.set(`reg/shop:web.${b.number}`, `sha256:${b.number}`);
      return { id: b.id, number: b.number, created: true };
    },
    async cancelOpenBuilds(_app, ref, keep) {
      const out: string[] = [];
      for (const b of s.builds) {
        if (previewRef(b.iid) !== ref || b.id === keep?.id || (keep && b.number > keep.number)) continue;
        if (b.status === "queued" || b.status === "running") {
          b.status = "canceled";
          out.push(b.id);
        }
      }
      return out;
    },
    async withUnitLock(unit, fn) {
      if (s.locked.has(unit)) throw new Error(`a deploy of ${unit} holds its lock`);
      return fn();
    },
    async removeUnit(unit) {
      const left = s.units.get(unit) ?? [];
      if (left.length > 1) {
        // One piece at a time, so a crash in between leaves the rest for the rerun.
        s.units.set(unit, left.slice(1));
        crash("removeUnit");
      }
      s.units.delete(unit);
      return left;
    },
    previewImages: async (_app, iid) => ({
      mine: s.builds
        .filter((b) => b.iid === iid)
        .map((b) => ({ service: "web", tag: `reg/shop:web.${b.number}`, digest: `sha256:${b.number}` })),
      others: s.others,
    }),
    async removeTags(images, protect) {
      const removed: string[] = [];
      const kept: { tag: string; reason: string }[] = [];
      for (const image of images) {
        crash("removeTags");
        const digest = s.registry.get(image.tag);
        if (digest && protect.has(digest)) kept.push({ tag: image.tag, reason: "protected" });
        else {
          for (const [t, d] of s.registry) if (d === digest) s.registry.delete(t);
          removed.push(image.tag);
        }
      }
      return { removed, kept };
    },
    notice: async (n) => {
      s.notices.push(n);
    },
    close: async (_app, iid, reason, id) => {
      s.closes.push({ iid, reason, id });
    },
    listApps: async () => (app ? [app] : []),
    teardownPending: async (_app, iid) => s.pending.has(iid),
    listPreviews: async () => [...s.previews.values()].sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt)),
    domain: "localhost",
    now: () => s.now,
  };
  return { s, ports };
}

type Open = Extract<PreviewsPayload, { kind: "open" }>;
const open = (o: Partial<Open> = {}): Open => ({
  kind: "open",
  app: "shop",
  iid: 1,
  sha: sha("a"),
  sourceBranch: "feature",
  authorId: 7,
  fork: false,
  mrUrl: "http://gitlab.test/acme/shop/-/merge_requests/1",
  title: "Add a feature",
  deliveryId: "d1",
  ...o,
});
const close = (reason: "closed" | "merged" | "idle" | "limit" = "merged", deliveryId = "c1") =>
  ({ kind: "close", app: "shop", iid: 1, reason, deliveryId }) as const;

describe("previewTarget and previewUrl", () => {
  it("serve every service of a local target on the preview host with no port, keeping its other settings", () => {
    const t = previewTarget(appOf().target, "mr-3.shop.localhost", 3);
    expect(t).toEqual({
      kind: "local",
      services: {
        api: { hosts: ["mr-3.shop.localhost"] },
        web: { healthPath: "/healthz", replicas: 2, hosts: ["web.mr-3.shop.localhost"] },
      },
    });
    expect(environmentUrl(t)).toBe("http://mr-3.shop.localhost");
    const tls = previewTarget({ kind: "local", services: { web: { port: 1, tls: "internal", hosts: ["shop.example.com"] } } }, "mr-3.x", 3);
    expect(environmentUrl(tls)).toBe("https://mr-3.x");
    // An ECS preview gets its own service, made from the base one on its first deploy.
    expect(previewTarget({ kind: "ecs", cluster: "c", service: "shop-web", region: "eu-west-1" }, "h", 3)).toEqual({
      kind: "ecs",
      cluster: "c",
      service: "shop-web-mr-3",
      previewOf: "shop-web",
      region: "eu-west-1",
    });
  });

  it("trust: a fork only with forks allowed, an author only with Developer access or more", () => {
    expect(trustOf(1, false, false, 30)).toEqual({ ok: true });
    expect(trustOf(1, false, false, 20)).toMatchObject({ ok: false, reason: expect.stringContaining("only level 20") });
    expect(trustOf(1, false, false, undefined)).toMatchObject({ ok: false, reason: expect.stringContaining("has no access") });
    expect(trustOf(1, true, false, 50)).toMatchObject({ ok: false, reason: expect.stringContaining("comes from a fork") });
    expect(trustOf(1, true, true, 30)).toEqual({ ok: true });
  });
});

describe("openPreview", () => {
  it("makes environment mr-<iid> from previews.from, records the preview building and creates one build of the commit, however often it runs", async () => {
    const { s, ports } = world();
    const first = await openPreview(ports, open());
    expect(first).toEqual({ kind: "building", buildId: "bld_1", url: "http://mr-1.shop.localhost", superseded: [] });
    expect(s.envs.get("mr-1")).toMatchObject({
      auto: false,
      requiredApprovals: 0,
      freezes: [],
      env: sealed("production vars + overrides for mr-1"),
      target: { kind: "local", services: { api: { hosts: ["mr-1.shop.localhost"] } } },
    });
    expect(s.previews.get(1)).toMatchObject({
      status: "building",
      sha: sha("a"),
      url: "http://mr-1.shop.localhost",
      buildId: "bld_1",
      sourceBranch: "feature",
      fork: false,
      mrUrl: "http://gitlab.test/acme/shop/-/merge_requests/1",
    });
    // The same job again (a retry, a second worker): no second build, the status left alone.
    await ports.movePreview("shop", 1, ["building"], { status: "deploying" });
    expect(await openPreview(ports, open())).toMatchObject({ kind: "building", buildId: "bld_1" });
    expect(s.builds).toHaveLength(1);
    expect(s.previews.get(1)?.status).toBe("deploying");
    expect(s.notices).toEqual([]);
  });

  it("a newer commit on the MR cancels the older build still queued or running and builds the new one", async () => {
    const { s, ports } = world();
    await openPreview(ports, open());
    const second = await openPreview(ports, open({ sha: sha("b"), deliveryId: "d2" }));
    expect(second).toMatchObject({ kind: "building", buildId: "bld_2", superseded: ["bld_1"] });
    expect(s.builds.map((b) => [b.id, b.status])).toEqual([
      ["bld_1", "canceled"],
      ["bld_2", "queued"],
    ]);
    expect(s.previews.get(1)).toMatchObject({ status: "building", sha: sha("b"), buildId: "bld_2" });
  });

  it("refuses a Reporter's MR and a fork's: the record says why, a notice goes out, nothing is built", async () => {
    const { s, ports } = world(appOf(), { 7: 30, 8: 20 });
    const refused = await openPreview(ports, open({ authorId: 8 }));
    expect(refused).toMatchObject({ kind: "refused", reason: expect.stringContaining("only level 20 access") });
    expect(s.previews.get(1)).toMatchObject({ status: "refused", reason: refused.kind === "refused" ? refused.reason : "" });
    expect(s.notices).toEqual([
      { event: "preview.refused", app: "shop", iid: 1, reason: refused.kind === "refused" ? refused.reason : "", id: "d1" },
    ]);
    expect(s.builds).toEqual([]);
    expect(s.envs.has("mr-1")).toBe(false);

    const asked = s.accessAsked;
    const fork = await openPreview(ports, open({ iid: 2, fork: true, deliveryId: "d3" }));
    expect(fork).toMatchObject({ kind: "refused", reason: expect.stringContaining("comes from a fork") });
    expect(s.accessAsked).toBe(asked);
    expect(s.notices.map((n) => [n.iid, n.event])).toEqual([
      [1, "preview.refused"],
      [2, "preview.refused"],
    ]);
    expect(s.builds).toEqual([]);
  });

  it("a fork's MR, with forks allowed, gets only the overrides, never the from environment's variables", async () => {
    const { s, ports } = world(appOf({ forks: true }));
    expect(await openPreview(ports, open({ fork: true }))).toMatchObject({ kind: "building" });
    expect(s.envs.get("mr-1")?.env).toEqual(sealed("overrides for mr-1"));
  });

  it("ignores an app with previews disabled or gone, and fails the preview when previews.from names no environment", async () => {
    expect(await openPreview(world(appOf({ enabled: false })).ports, open())).toMatchObject({ kind: "ignored" });
    expect(await openPreview(world(null).ports, open())).toMatchObject({ kind: "ignored" });
    const { s, ports } = world(appOf({ from: "staging" }));
    expect(await openPreview(ports, open())).toMatchObject({ kind: "failed", reason: expect.stringContaining("environment staging") });
    expect(s.previews.get(1)?.status).toBe("failed");
    expect(s.builds).toEqual([]);
  });
});

describe("closePreview", () => {
  it("removes the unit, deletes the environment, gives the notice and records stopped; a second run does nothing", async () => {
    const { s, ports } = world();
    await openPreview(ports, open());
    const done = await closePreview(ports, close("merged"));
    expect(done).toEqual({
      kind: "stopped",
      removed: ["container of bld_1", "route", "network"],
      canceled: ["bld_1"],
      tags: { removed: ["reg/shop:web.1"], kept: [] },
    });
    expect(s.registry.size).toBe(0);
    expect(s.units.has("shop@mr-1")).toBe(false);
    expect(s.envs.has("mr-1")).toBe(false);
    expect(s.previews.get(1)).toMatchObject({ status: "stopped", reason: "the merge request was merged" });
    expect(s.notices).toEqual([{ event: "preview.stopped", app: "shop", iid: 1, reason: "the merge request was merged", id: "c1" }]);
    expect(await closePreview(ports, close("merged"))).toEqual({ kind: "already" });
    expect(s.notices).toHaveLength(1);
  });

  it("a crash at any step is finished by the rerun, with one notice (named once)", async () => {
    for (const step of ["removeUnit", "deleteEnvironment", "removeTags", "move:stopping", "move:stopped"]) {
      const { s, ports } = world();
      await openPreview(ports, open());
      s.crashAt = step;
      await expect(closePreview(ports, close("closed")), step).rejects.toThrow(`crash at ${step}`);
      expect(await closePreview(ports, close("closed")), step).toMatchObject({ kind: "stopped" });
      expect(s.units.has("shop@mr-1"), step).toBe(false);
      expect(s.envs.has("mr-1"), step).toBe(false);
      expect(s.previews.get(1)?.status, step).toBe("stopped");
      expect(s.registry.size, step).toBe(0);
      // A crash after the notice gives it again with the same id: the notify queue's job id makes it one note.
      expect(new Set(s.notices.map((n) => JSON.stringify(n))).size, step).toBe(1);
      expect(await closePreview(ports, close("closed")), step).toEqual({ kind: "already" });
    }
  });

  it("removes the MR's tags but none another build or release uses, by tag or by digest", async () => {
    const { s, ports } = world();
    await openPreview(ports, open());
    await openPreview(ports, open({ sha: sha("b"), deliveryId: "d2" }));
    await openPreview(ports, open({ sha: sha("c"), deliveryId: "d3" }));
    // web.2 was promoted to production (same tag); main's build of the merged commit made web.3's image again.
    s.registry.set("reg/shop:web.9", "sha256:3");
    s.others = [
      { service: "web", tag: "reg/shop:web.2", digest: "sha256:2" },
      { service: "web", tag: "reg/shop:web.9", digest: "sha256:3" },
    ];
    const done = await closePreview(ports, close());
    expect(done).toMatchObject({
      kind: "stopped",
      tags: {
        removed: ["reg/shop:web.1"],
        kept: [
          { tag: "reg/shop:web.2", reason: "another build or release of the app uses this tag" },
          { tag: "reg/shop:web.3", reason: "another build or release of the app uses its image sha256:3" },
        ],
      },
    });
    expect([...s.registry.keys()].sort()).toEqual(["reg/shop:web.2", "reg/shop:web.3", "reg/shop:web.9"]);
  });

  it("waits for a deploy of the preview holding its lock (retried), and a reopened MR builds again", async () => {
    const { s, ports } = world();
    await openPreview(ports, open());
    s.locked.add("shop@mr-1");
    await expect(closePreview(ports, close())).rejects.toThrow(/holds its lock/);
    expect(s.previews.get(1)?.status).toBe("stopping");
    // An open meanwhile does not build into a preview being torn down: it is retried after.
    await expect(openPreview(ports, open({ sha: sha("c"), deliveryId: "d9" }))).rejects.toThrow(/being torn down/);
    s.locked.delete("shop@mr-1");
    expect(await closePreview(ports, close())).toMatchObject({ kind: "stopped" });
    expect(await openPreview(ports, open({ sha: sha("c"), deliveryId: "d9" }))).toMatchObject({ kind: "building" });
    expect(s.previews.get(1)).toMatchObject({ status: "building", sha: sha("c") });
    expect(s.previews.get(1)?.reason).toBeUndefined();
  });
});

describe("enforcePreviewLimits (clock injected)", () => {
  it("gives a preview left stopping without a teardown job a new one (its job failed), and none while one waits or runs", async () => {
    const { s, ports } = world();
    await openPreview(ports, open());
    s.crashAt = "deleteEnvironment";
    await expect(closePreview(ports, close("merged"))).rejects.toThrow("crash at deleteEnvironment");
    expect(s.previews.get(1)?.status).toBe("stopping");
    s.pending.add(1);
    expect(await enforcePreviewLimits(ports)).toEqual([]);
    s.pending.delete(1);
    expect(await enforcePreviewLimits(ports)).toEqual(["shop!1: teardown resumed (stopping, no teardown job left)"]);
    expect(s.closes).toEqual([{ iid: 1, reason: "merged", id: `resume-${T0}` }]);
    expect(await closePreview(ports, { ...close("merged"), deliveryId: `resume-${T0}` })).toMatchObject({ kind: "stopped" });
    expect(await enforcePreviewLimits(ports)).toEqual([]);
  });

  it("closes the least recently updated past max, and one idle ttlHours, once per state", async () => {
    const { s, ports } = world(appOf({ max: 2, ttlHours: 1 }));
    for (const iid of [1, 2, 3]) {
      s.now += 60_000;
      await openPreview(ports, open({ iid, deliveryId: `d${iid}` }));
    }
    expect(await enforcePreviewLimits(ports)).toEqual(["shop!1: beyond previews.max 2"]);
    expect(s.closes).toEqual([{ iid: 1, reason: "limit", id: `limit-${T0 + 60_000}` }]);
    // Stopped ones do not count; refused ones neither.
    await closePreview(ports, { ...close("limit", `limit-${T0 + 60_000}`), iid: 1 });
    s.closes.length = 0;
    expect(await enforcePreviewLimits(ports)).toEqual([]);

    // !2 updated 2 min in, !3 at 3 min; an hour and 2.5 minutes later !2 is idle, !3 not yet.
    s.now = T0 + 3600_000 + 150_000;
    expect(await enforcePreviewLimits(ports)).toEqual([`shop!2: idle since ${new Date(T0 + 120_000).toISOString()}`]);
    expect(s.closes).toEqual([{ iid: 2, reason: "idle", id: `idle-${T0 + 120_000}` }]);
  });
});
