import {
  type App,
  deployUnit,
  type Environment,
  environmentUrl,
  type Image,
  PermanentError,
  type Preview,
  type PreviewSettings,
  type PreviewsPayload,
  previewEnvironment,
  previewHost,
  previewSettingsOf,
  type Sealed,
} from "@hoist/shared";

type OpenJob = Extract<PreviewsPayload, { kind: "open" }>;
type CloseJob = Extract<PreviewsPayload, { kind: "close" }>;
type PreviewCloseReason = CloseJob["reason"];
type Target = App["target"];
type PreviewFields = Partial<Omit<Preview, "app" | "iid" | "createdAt" | "updatedAt">>;
/** A preview as created or moved: what the MR says of it and its status. */
type UpsertFields = PreviewFields & Pick<Preview, "status" | "sha" | "sourceBranch" | "fork">;

/** What the notifier says on the MR that no release event carries (wired to the notify queue's `gitlab-mr` kind). */
export interface PreviewNotice {
  event: "preview.refused" | "preview.stopped";
  app: string;
  iid: number;
  reason: string;
  /** Names the notice once (the job's deliveryId): the same notice given twice is one note. */
  id: string;
}

/** The ports the previews worker runs through; Redis, GitLab, podman and Caddy stay behind them. */
export interface PreviewPorts {
  loadApp(app: string): Promise<App | undefined>;
  /** The author's effective access level on the app's GitLab project; undefined: not a member (404). */
  accessLevel(app: App, userId: number): Promise<number | undefined>;
  getPreview(app: string, iid: number): Promise<Preview | undefined>;
  /**
   * Creates the preview or moves it to `fields.status` (the preview lifecycle's table); false when the
   * table forbids the move from its current status.
   */
  upsertPreview(app: string, iid: number, fields: UpsertFields, unset?: ("reason" | "buildId")[]): Promise<boolean>;
  /** Sets fields other than the status on an existing preview. */
  patchPreview(app: string, iid: number, fields: Omit<PreviewFields, "status">): Promise<void>;
  /** Moves an existing preview from one of `from` (false: missing, or not in `from`). */
  movePreview(
    app: string,
    iid: number,
    from: Preview["status"][],
    fields: PreviewFields & Required<Pick<Preview, "status">>,
  ): Promise<boolean>;
  getEnvironment(app: App, name: string): Promise<Environment | undefined>;
  /** Creates the environment, or sets the target and variables of the one there (`auto` false, no gates). */
  putEnvironment(app: App, name: string, target: Target, env: Sealed | undefined): Promise<void>;
  deleteEnvironment(app: string, name: string): Promise<void>;
  /** `from`'s variables (unless `fork`) with the app's `previews.env` on top, sealed for the preview's environment. */
  previewVariables(app: App, from: Environment, environment: string, fork: boolean): Promise<Sealed | undefined>;
  /**
   * Creates the build of `sha` for the MR (once per app, MR and commit: a second call finds it), with
   * `preview: { iid }`, through the path pushes take (record, build job, build.pending events).
   */
  createBuild(app: App, job: OpenJob, ref: string): Promise<{ id: string; number: number; created: boolean }>;
  /** Cancels the MR's open builds older than `keep` (all of them when undefined), through the build lifecycle; their ids. */
  cancelOpenBuilds(app: string, ref: string, keep: { id: string; number: number } | undefined): Promise<string[]>;
  /** Runs `fn` holding the preview unit's deploy lock (no deploy of it runs meanwhile); throws a retryable error when it is held. */
  withUnitLock<T>(unit: string, fn: () => Promise<T>): Promise<T>;
  /** Stops and removes the unit's containers and network and its Caddy routes (an ECS target: its preview service); what it removed. */
  removeUnit(unit: string, target?: Target): Promise<string[]>;
  /** The images of the MR's builds (`mine`) and of every other build and release of the app (`others`). */
  previewImages(app: string, iid: number): Promise<{ mine: Image[]; others: Image[] }>;
  /**
   * Removes the images' tags from Hoist's registry; a tag whose digest is in `protect` is kept (on a
   * registry that removes a tag by deleting its manifest, that would untag the others too).
   */
  removeTags(images: Image[], protect: ReadonlySet<string>): Promise<TagRemoval>;
  notice(n: PreviewNotice): Promise<void>;
  /** Queues a teardown (limits and TTL); one job per `id`. */
  close(app: string, iid: number, reason: PreviewCloseReason, id: string): Promise<void>;
  listApps(): Promise<App[]>;
  listPreviews(app: string): Promise<Preview[]>;
  /** A teardown job of the preview waits or runs (its worker may have died: it is still active until stall detection). */
  teardownPending(app: string, iid: number): Promise<boolean>;
  /** HOIST_APPS_DOMAIN: `{domain}` of the previews' host template. */
  domain: string;
  /** The port of Caddy's host listener (HOIST_CADDY_HOSTS_LISTEN's first), for the previews' URLs. */
  hostsPort?: number;
  now(): number;
}

/** GitLab's Developer access level: the least that may have a merge request previewed. */
const MIN_ACCESS = 30;

/** The ref a merge request's builds are indexed under (GitLab's ref of the MR head): its newer commit supersedes them. */
export function previewRef(iid: number): string {
  return `refs/merge-requests/${iid}/head`;
}

/**
 * Whether a merge request may get a preview: a fork's only when the app allows forks, and only an
 * author with at least Developer access (30) on the target project. (The same rule as the API's
 * previewTrust, which answers the hook; this is the one the build depends on.)
 */
export function trustOf(
  iid: number,
  fork: boolean,
  forks: boolean,
  accessLevel: number | undefined,
): { ok: true } | { ok: false; reason: string } {
  if (fork && !forks)
    return {
      ok: false,
      reason: `merge request !${iid} comes from a fork; this app builds previews of forks only with previews.forks: true`,
    };
  if (accessLevel === undefined || accessLevel < MIN_ACCESS)
    return {
      ok: false,
      reason: `the author of merge request !${iid} has ${accessLevel === undefined ? "no" : `only level ${accessLevel}`} access to the project; previews are built for authors with Developer access (30) or more`,
    };
  return { ok: true };
}

/**
 * The preview environment's target, made from the `from` environment's: a local target's services
 * lose their port and are served on the preview host only (the first service by name on the host
 * itself, any other on `<service>.<host>`, as two services cannot share a host route).
 */
export function previewTarget(from: Target, host: string, iid: number): Target {
  if (from.kind === "ecs") {
    // Its own service, made from the base service on the first deploy (adapters/ecs-preview-service.ts).
    const { previewOf: _base, ...base } = from;
    return { ...base, service: `${from.service}-mr-${iid}`.slice(0, 255), previewOf: from.service };
  }
  const names = Object.keys(from.services).sort();
  if (names.length === 0) throw new PermanentError("the previews.from environment's local target has no services: nothing to preview");
  const services: typeof from.services = {};
  names.forEach((name, i) => {
    const { port: _port, hosts: _hosts, ...rest } = from.services[name] as (typeof from.services)[string];
    services[name] = { ...rest, hosts: [i === 0 ? host : `${name.toLowerCase().replace(/[^a-z0-9-]/g, "-")}.${host}`] };
  });
  return { kind: "local", services };
}

type OpenResult =
  | { kind: "ignored"; reason: string }
  | { kind: "refused"; reason: string }
  | { kind: "failed"; reason: string }
  | { kind: "building"; buildId: string; url: string | undefined; superseded: string[] };

/**
 * Opens or updates the preview of a merge request: checks trust (refused: the record says why, a
 * notice goes out, nothing is built), makes the environment `mr-<iid>` from `previews.from`, records
 * the preview `building`, cancels an older build of the MR still queued or running, and creates the
 * build of the commit (which releases into `mr-<iid>` only). Every step converges: run twice, one build.
 */
export async function openPreview(ports: PreviewPorts, job: OpenJob): Promise<OpenResult> {
  const app = await ports.loadApp(job.app);
  if (!app) return { kind: "ignored", reason: `app ${job.app} does not exist (deleted?)` };
  const settings = previewSettingsOf(app);
  if (!settings.enabled) return { kind: "ignored", reason: `previews are disabled for app ${app.name}` };
  const base = {
    sha: job.sha,
    sourceBranch: job.sourceBranch,
    fork: job.fork,
    ...(job.mrUrl ? { mrUrl: job.mrUrl } : {}),
    ...(job.title ? { title: job.title } : {}),
  };

  const trust = trustOf(
    job.iid,
    job.fork,
    settings.forks,
    job.fork && !settings.forks ? undefined : await ports.accessLevel(app, job.authorId),
  );
  if (!trust.ok) {
    await ports.cancelOpenBuilds(app.name, previewRef(job.iid), undefined);
    if (!(await ports.upsertPreview(app.name, job.iid, { ...base, status: "refused", reason: trust.reason }, ["buildId"])))
      throw new Error(`preview !${job.iid} of ${app.name} is being torn down; the open is retried after it`);
    await ports.notice({ event: "preview.refused", app: app.name, iid: job.iid, reason: trust.reason, id: job.deliveryId });
    return { kind: "refused", reason: trust.reason };
  }

  const environment = previewEnvironment(job.iid);
  const failed = async (reason: string): Promise<OpenResult> => {
    await ports.upsertPreview(app.name, job.iid, { ...base, status: "building" }, ["buildId"]);
    await ports.movePreview(app.name, job.iid, ["building"], { status: "failed", reason });
    return { kind: "failed", reason };
  };
  const from = await ports.getEnvironment(app, settings.from);
  if (!from)
    return failed(`previews.from names environment ${settings.from}, which app ${app.name} does not have: set previews.from to one it has`);
  let target: Target;
  try {
    target = previewTarget(from.target, previewHost(settings.hosts, { iid: job.iid, app: app.name, domain: ports.domain }), job.iid);
  } catch (err) {
    if (err instanceof PermanentError) return failed(err.message);
    throw err;
  }
  const url = environmentUrl(target, ports.hostsPort);

  // Recorded building before anything is made, so a teardown racing this open finds something to stop. A rerun
  // of this open whose build is already on its way (or live) leaves the status alone.
  const existing = await ports.getPreview(app.name, job.iid);
  const rerun = existing?.sha === job.sha && existing.buildId !== undefined && ACTIVE.has(existing.status);
  if (
    !rerun &&
    !(await ports.upsertPreview(app.name, job.iid, { ...base, status: "building", ...(url ? { url } : {}) }, ["reason", "buildId"]))
  )
    throw new Error(`preview !${job.iid} of ${app.name} is being torn down; the open is retried after it`);
  await ports.putEnvironment(app, environment, target, await ports.previewVariables(app, from, environment, job.fork));
  const ref = previewRef(job.iid);
  const build = await ports.createBuild(app, job, ref);
  const superseded = await ports.cancelOpenBuilds(app.name, ref, build);
  // Only while it still shows this commit: a newer open may have moved it on meanwhile.
  const current = await ports.getPreview(app.name, job.iid);
  if (current?.sha === job.sha && current.buildId !== build.id) await ports.patchPreview(app.name, job.iid, { buildId: build.id });
  return { kind: "building", buildId: build.id, url, superseded };
}

/** What a teardown did to the registry: tags removed (or found gone), and tags kept with why. */
export interface TagRemoval {
  removed: string[];
  kept: { tag: string; reason: string }[];
}

type CloseResult = { kind: "none" } | { kind: "already" } | { kind: "stopped"; removed: string[]; canceled: string[]; tags: TagRemoval };

/**
 * The tags a teardown may remove: the MR's builds' images, but none another build or release of the
 * app also names, by tag or by digest (a promoted preview release, or an identical image built
 * again from the merged commit, must keep running and pulling).
 */
function previewTagsToRemove(mine: Image[], others: Image[]): { remove: Image[]; kept: TagRemoval["kept"]; protect: Set<string> } {
  const otherTags = new Set(others.map((i) => i.tag));
  const protect = new Set(others.flatMap((i) => (i.digest ? [i.digest] : [])));
  const remove: Image[] = [];
  const kept: TagRemoval["kept"] = [];
  const seen = new Set<string>();
  for (const image of mine) {
    if (seen.has(image.tag)) continue;
    seen.add(image.tag);
    if (otherTags.has(image.tag)) kept.push({ tag: image.tag, reason: "another build or release of the app uses this tag" });
    else if (image.digest && protect.has(image.digest))
      kept.push({ tag: image.tag, reason: `another build or release of the app uses its image ${image.digest}` });
    else remove.push(image);
  }
  return { remove, kept, protect };
}

/**
 * Tears a preview down: `stopping` first (so nothing builds it meanwhile), its open builds canceled,
 * then under its unit's deploy lock its containers, network and Caddy routes removed and its
 * environment deleted, the notice given, and `stopped` with the reason. A rerun after a crash at any
 * step finishes it; once stopped (and nothing of it left), a rerun does nothing.
 */
export async function closePreview(ports: PreviewPorts, job: CloseJob): Promise<CloseResult> {
  const app = await ports.loadApp(job.app);
  const environment = previewEnvironment(job.iid);
  const unit = deployUnit(job.app, environment);
  const preview = await ports.getPreview(job.app, job.iid);
  const env = app ? await ports.getEnvironment(app, environment) : undefined;
  if (!preview && !env && !app) return { kind: "none" };
  if (preview?.status === "stopped" && !env) return { kind: "already" };
  if (!preview && !env) {
    // Never opened (or long gone): still make sure nothing of the unit runs.
    await ports.withUnitLock(unit, () => ports.removeUnit(unit));
    return { kind: "none" };
  }
  if (preview && preview.status !== "stopping" && preview.status !== "stopped")
    await ports.movePreview(job.app, job.iid, [preview.status], { status: "stopping", reason: job.reason });
  const canceled = await ports.cancelOpenBuilds(job.app, previewRef(job.iid), undefined);
  const removed = await ports.withUnitLock(unit, async () => {
    const out = await ports.removeUnit(unit, env?.target);
    await ports.deleteEnvironment(job.app, environment);
    return out;
  });
  // After the containers: nothing of the preview pulls them any more. A rerun finds them gone (removed again, as gone).
  const images = await ports.previewImages(job.app, job.iid);
  const picked = previewTagsToRemove(images.mine, images.others);
  const done = picked.remove.length ? await ports.removeTags(picked.remove, picked.protect) : { removed: [], kept: [] };
  const tags = { removed: done.removed, kept: [...picked.kept, ...done.kept] };
  const reason = stopReason(job.reason);
  await ports.notice({ event: "preview.stopped", app: job.app, iid: job.iid, reason, id: job.deliveryId });
  await ports.movePreview(job.app, job.iid, ["stopping"], { status: "stopped", reason });
  return { kind: "stopped", removed, canceled, tags };
}

function stopReason(reason: PreviewCloseReason): string {
  switch (reason) {
    case "closed":
      return "the merge request was closed";
    case "merged":
      return "the merge request was merged";
    case "deleted":
      return "the preview was deleted";
    case "idle":
      return "the preview was idle longer than previews.ttlHours";
    case "limit":
      return "the app has more previews than previews.max; this one was updated least recently";
  }
}

/** Statuses of a preview that runs or is on its way (counted against `max`, stopped when idle). */
const ACTIVE: ReadonlySet<Preview["status"]> = new Set(["building", "deploying", "live", "failed"]);

const CLOSE_REASONS: ReadonlySet<string> = new Set<PreviewCloseReason>(["closed", "merged", "deleted", "idle", "limit"]);

/**
 * One round of the limits (the deployer's reconcile loop, on its clock): per app with previews, an
 * active preview not updated for `ttlHours` is closed as `idle`; past `max` active previews, the
 * least recently updated are closed as `limit`. A preview left `stopping` with no teardown job
 * waiting or running (its job failed: the deployers running it were killed more often than a job may
 * stall) gets a new one, so a teardown always ends. Returns what it queued.
 */
export async function enforcePreviewLimits(ports: PreviewPorts): Promise<string[]> {
  const now = ports.now();
  const out: string[] = [];
  for (const app of await ports.listApps()) {
    const previews = await ports.listPreviews(app.name);
    for (const p of previews.filter((x) => x.status === "stopping")) {
      if (await ports.teardownPending(app.name, p.iid)) continue;
      const reason = p.reason && CLOSE_REASONS.has(p.reason) ? (p.reason as PreviewCloseReason) : "deleted";
      await ports.close(app.name, p.iid, reason, `resume-${now}`);
      out.push(`${app.name}!${p.iid}: teardown resumed (stopping, no teardown job left)`);
    }
    const settings: PreviewSettings = previewSettingsOf(app);
    if (!app.previews) continue;
    // Most recently updated first.
    const active = previews.filter((p) => ACTIVE.has(p.status));
    const idleBefore = now - settings.ttlHours * 3600_000;
    const keep: Preview[] = [];
    for (const p of active) {
      if (Date.parse(p.updatedAt) < idleBefore) {
        await ports.close(app.name, p.iid, "idle", closeId("idle", p));
        out.push(`${app.name}!${p.iid}: idle since ${p.updatedAt}`);
      } else keep.push(p);
    }
    for (const p of keep.slice(settings.max).reverse()) {
      await ports.close(app.name, p.iid, "limit", closeId("limit", p));
      out.push(`${app.name}!${p.iid}: beyond previews.max ${settings.max}`);
    }
  }
  return out;
}

/** One teardown job per preview state: the same preview found over the limit twice is closed once. */
function closeId(kind: "idle" | "limit", p: Preview): string {
  return `${kind}-${Date.parse(p.updatedAt)}`;
}
