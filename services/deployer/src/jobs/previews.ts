import { createHash } from "node:crypto";
import {
  type Build,
  BuildLifecycle,
  canMovePreview,
  EnvironmentExistsError,
  type HandlerMap,
  type Image,
  isPreviewEnvironment,
  type Logger,
  newId,
  type Preview,
  previewEnvironment,
  publishBuildCanceled,
  type Records,
  type Release,
  secretContexts,
  tryAcquireAppLock,
} from "@hoist/shared";
import { z } from "zod";
import { EcsDeployTarget, RedisEcsRolloutState } from "../adapters/ecs-target.js";
import { gitlabAccessLevel } from "../adapters/gitlab-members.js";
import type { LocalTarget } from "../adapters/local-target.js";
import { closePreview, enforcePreviewLimits, openPreview, type PreviewNotice, type PreviewPorts } from "../domain/previews.js";
import { PermanentDeployError } from "../domain/target.js";
import type { DeployerDeps } from "./ports.js";

/** What the previews worker needs beyond the deploy worker's deps. */
interface PreviewWiring {
  /** HOIST_APPS_DOMAIN: `{domain}` of the previews' host template. */
  domain: string;
  /** The port of Caddy's host listener, for the previews' URLs. */
  hostsPort?: number;
  /** The MR notices (the lead wires them to the notify queue's `gitlab-mr` kind). */
  notice(n: PreviewNotice): Promise<void>;
  /** The limits' clock (TTL); tests inject one. */
  now?: () => number;
}

const envObjectSchema = z.record(z.string(), z.string());
/** How long the once-key of a preview's build is kept (as a push delivery's). */
const ONCE_TTL_MS = 48 * 3600 * 1000;
/** How long a teardown waits for a deploy of its preview to let go of the unit's lock before its job is retried. */
const UNIT_LOCK_WAIT_MS = 30_000;

/** Wires the previews domain to Redis, GitLab, podman and Caddy, and ECS for an ECS preview's own service. */
export function previewPorts(deps: DeployerDeps & PreviewWiring, local: LocalTarget): PreviewPorts {
  const { records } = deps;
  const builds = new BuildLifecycle(records, deps.queues);
  const ecs = new EcsDeployTarget({
    client: deps.ecs,
    state: new RedisEcsRolloutState(deps.redis, deps.prefix),
    pollMs: deps.ecsPollMs,
    defaultTimeoutS: deps.ecsTimeoutS,
  });
  const open = async (sealed: Parameters<typeof deps.secrets.open>[0], ctx: Parameters<typeof deps.secrets.open>[1], app: string) => {
    const parsed = envObjectSchema.safeParse(JSON.parse((await deps.secrets.open(sealed, ctx, app)).toString("utf8")));
    if (!parsed.success) throw new PermanentDeployError(`the variables of app ${app} are not an object of strings`);
    return parsed.data;
  };
  return {
    loadApp: (app) => records.apps.get(app),
    async accessLevel(app, userId) {
      if (!app.gitlab) return undefined;
      const conn = await records.gitlabConnections.get(app.gitlab.connectionId);
      if (!conn) return undefined;
      const token = (await deps.secrets.open(conn.token, secretContexts.gitlabToken(conn.id), app.name)).toString("utf8");
      return gitlabAccessLevel({ url: conn.url, token }, app.gitlab.projectId, userId, deps.fetch);
    },
    getPreview: (app, iid) => records.previews.get(app, iid),
    async upsertPreview(app, iid, fields, unset) {
      return (await records.previews.upsert(app, iid, fields, unset ? { unset } : {})).ok;
    },
    async movePreview(app, iid, from, fields) {
      return (await records.previews.transition(app, iid, from, fields)).ok;
    },
    async patchPreview(app, iid, fields) {
      await records.previews.patch(app, iid, fields);
    },
    getEnvironment: (app, name) => records.environments.get(app, name),
    async putEnvironment(app, name, target, env) {
      const policy = { auto: false, requiredApprovals: 0, freezes: [] };
      if (await records.environments.get(app, name)) {
        await records.environments.update(app, name, { target, env: env ?? null, ...policy });
        return;
      }
      try {
        await records.environments.create(app, { name, target, ...(env ? { env } : {}), ...policy });
      } catch (err) {
        // Made meanwhile by another run of this open: set it as this run wants it.
        if (!(err instanceof EnvironmentExistsError)) throw err;
        await records.environments.update(app, name, { target, env: env ?? null, ...policy });
      }
    },
    async deleteEnvironment(app, name) {
      await records.environments.delete(app, name);
    },
    async previewVariables(app, from, environment, fork) {
      // A fork's code never sees the `from` environment's variables (its secrets): only the overrides.
      const base = !fork && from.env ? await open(from.env, secretContexts.environmentEnv(app.name, from.name), app.name) : {};
      const overrides = app.previews?.env ? await open(app.previews.env, secretContexts.previewEnv(app.name), app.name) : {};
      const merged = { ...base, ...overrides };
      if (Object.keys(merged).length === 0) return undefined;
      return deps.secrets.seal(JSON.stringify(merged), secretContexts.environmentEnv(app.name, environment));
    },
    createBuild: (app, job, ref) => createPreviewBuild(deps, app.name, job, ref),
    async cancelOpenBuilds(app, ref, keep) {
      const ids = (await records.builds.openIds(app, ref)).filter((id) => id !== keep?.id);
      const canceled: string[] = [];
      const done: string[] = [];
      for (const id of ids) {
        const b = await records.builds.get(id);
        if (b && keep && b.number > keep.number) continue;
        if (b && (b.status === "queued" || b.status === "running")) {
          const out = await builds.cancel(id, "superseded", ["queued", "running"]);
          if (out.ok) {
            await publishBuildCanceled(deps.redis, deps.prefix, id);
            canceled.push(id);
          }
        }
        done.push(id);
      }
      if (done.length) await records.builds.closeOpen(app, ref, done);
      return canceled;
    },
    async withUnitLock(unit, fn) {
      // A deploy of the preview may be draining its old containers: wait for it (bounded), then the job's retries.
      const deadline = Date.now() + UNIT_LOCK_WAIT_MS;
      let lock = await tryAcquireAppLock(deps.redis, deps.prefix, unit, deps.lockTtlMs);
      while (!lock && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        lock = await tryAcquireAppLock(deps.redis, deps.prefix, unit, deps.lockTtlMs);
      }
      if (!lock) throw new Error(`a deploy of ${unit} holds its lock; the teardown is retried after it`);
      try {
        return await fn();
      } finally {
        await lock.release();
      }
    },
    async removeUnit(unit, target) {
      if (target?.kind === "ecs") return [await ecs.removePreview(target)];
      return local.removeUnit(unit);
    },
    async previewImages(app, iid) {
      const mine: Image[] = [];
      const others: Image[] = [];
      for await (const b of paged((limit, offset) => records.builds.listByApp(app, limit, offset)))
        (b.preview?.iid === iid ? mine : others).push(...(b.images ?? []));
      const own = previewEnvironment(iid);
      for (const env of (await records.environments.names(app)).filter((n) => n !== own))
        for await (const r of paged((limit, offset) => records.releases.listByEnvironment(app, env, limit, offset)))
          others.push(...r.images);
      return { mine, others };
    },
    async removeTags(images, protect) {
      if (!deps.registryTags) return { removed: [], kept: images.map((i) => ({ tag: i.tag, reason: "HOIST_REGISTRY is not set" })) };
      return deps.registryTags.remove(images, protect);
    },
    notice: (n) => deps.notice(n),
    async close(app, iid, reason, id) {
      await deps.queues.enqueue("previews", { kind: "close", app, iid, reason, deliveryId: id });
    },
    listApps: () => records.apps.list(),
    listPreviews: (app) => records.previews.list(app),
    async teardownPending(app, iid) {
      const jobs = await deps.queues.queue("previews").getJobs(["active", "waiting", "delayed", "prioritized"]);
      return jobs.some((j) => j?.data.kind === "close" && j.data.app === app && j.data.iid === iid);
    },
    domain: deps.domain,
    ...(deps.hostsPort !== undefined ? { hostsPort: deps.hostsPort } : {}),
    now: deps.now ?? Date.now,
  };
}

/** Every record of a newest-first index, a page at a time. */
async function* paged<T>(page: (limit: number, offset: number) => Promise<T[]>, size = 500): AsyncGenerator<T> {
  for (let offset = 0; ; offset += size) {
    const got = await page(size, offset);
    yield* got;
    if (got.length < size) return;
  }
}

/**
 * The build of an MR commit, as a push's (records.builds.createOnce: record, indexes and a once-key
 * in one step; then its build job and build.pending events): once per open job, so a rerun finds it.
 */
async function createPreviewBuild(
  deps: DeployerDeps,
  app: string,
  job: { iid: number; sha: string; deliveryId: string },
  ref: string,
): Promise<{ id: string; number: number; created: boolean }> {
  const records: Records = deps.records;
  const key = createHash("sha256").update(`${app}:${job.iid}:${job.sha}:${job.deliveryId}`).digest("hex");
  const once = { key: records.keys.delivery("preview", key), ttlMs: ONCE_TTL_MS, openIndex: records.keys.openBuilds(app, ref) };
  const fields = { id: newId("bld"), app, ref, sha: job.sha, trigger: "push" as const, preview: { iid: job.iid } };
  for (let attempt = 0; attempt < 3; attempt++) {
    const out = await records.builds.createOnce(fields, once);
    if (out.created) {
      try {
        await deps.queues.enqueue("build", { kind: "build", buildId: out.build.id });
      } catch (err) {
        await records.builds.undoCreateOnce(out.build, once, out.outbox).catch(() => {});
        throw err;
      }
      await new BuildLifecycle(records, deps.queues).outbox.send(out.outbox);
      return { id: out.build.id, number: out.build.number, created: true };
    }
    const first: Build | undefined = await records.builds.get(out.id);
    if (!first) {
      // Its storing failed and was taken back (all but the key): this run stores the build.
      await records.builds.releaseOnce(once.key, out.id);
      continue;
    }
    // An earlier run died between the record and its job: the job is stored now (its id makes this idempotent).
    if (first.status === "queued") await deps.queues.enqueue("build", { kind: "build", buildId: first.id });
    return { id: first.id, number: first.number, created: false };
  }
  throw new Error(`the build of ${job.sha} for ${app}!${job.iid} could not be stored; retried`);
}

/**
 * A release of a preview environment moved (deploying, live, failed): its preview follows, while it
 * still shows that release's build (an older commit's release finishing late changes nothing).
 */
export async function followPreviewRelease(records: Records, release: Release, status: "deploying" | "live" | "failed"): Promise<void> {
  if (!isPreviewEnvironment(release.environment)) return;
  const iid = Number(release.environment.slice("mr-".length));
  const preview = await records.previews.get(release.app, iid);
  if (!preview || preview.buildId !== release.buildId) return;
  // Live only from deploying (the table): a release that begun before the preview knew its build still goes through it.
  const path: Preview["status"][] = status === "live" && preview.status === "building" ? ["deploying", "live"] : [status];
  let current = preview.status;
  for (const to of path) {
    if (current === to || !canMovePreview(current, to) || !FOLLOWS.has(current)) return;
    const out = await records.previews.transition(release.app, iid, [current], {
      status: to,
      ...(to === "failed" && release.reason ? { reason: release.reason.slice(0, 1000) } : {}),
    });
    if (!out.ok) return;
    current = to;
  }
}

/** The statuses a release moves a preview from: not a refused, stopping or stopped one. */
const FOLLOWS: ReadonlySet<Preview["status"]> = new Set(["building", "deploying", "live"]);

/** The previews worker: thin over the domain (domain/previews.ts). */
export function previewHandlers(deps: { log: Logger; ports: PreviewPorts }): HandlerMap<"previews"> {
  return {
    open: async (payload, { log }) => {
      const result = await openPreview(deps.ports, payload);
      log.info({ app: payload.app, iid: payload.iid, sha: payload.sha, result: result.kind }, "preview open handled");
      return result;
    },
    close: async (payload, { log }) => {
      const result = await closePreview(deps.ports, payload);
      const tags = result.kind === "stopped" ? { tagsRemoved: result.tags.removed.length, tagsKept: result.tags.kept } : {};
      log.info({ app: payload.app, iid: payload.iid, reason: payload.reason, result: result.kind, ...tags }, "preview close handled");
      return result;
    },
  };
}

/** The limits (max, ttlHours) as one reconcile step. */
export function previewLimits(ports: PreviewPorts): () => Promise<string[]> {
  return () => enforcePreviewLimits(ports);
}
