import type { Redis } from "ioredis";
import { z } from "zod";
import { deployUnit, PRODUCTION } from "../environments/names.js";
import { decodeHash, encodeFields } from "./codec.js";
import { EnvironmentRepo } from "./environments.js";
import { HashRepo } from "./hash-repo.js";
import { newId } from "./ids.js";
import { type RecordKeys, recordKeys } from "./keys.js";
import { moveRecord, type TransitionResult } from "./lifecycle/move.js";
import { scriptContext } from "./lifecycle/scripts.js";
import { PreviewRepo } from "./previews.js";
import { finishedBuildStatuses, Retention } from "./retention.js";
import type { BuildStatus, ReleaseStatus } from "./schemas.js";
import {
  type App,
  appSchema,
  type Build,
  buildSchema,
  type GitlabConnection,
  gitlabConnectionSchema,
  type Release,
  releaseSchema,
} from "./schemas.js";

/**
 * A build accepted this long ago is past every deadline of the request that stored it: if it is
 * still `queued` without a job, that request's process died (or lost Redis) between storing the
 * record and the job. GitLab never resends by itself, so nothing else would ever build it.
 */
export const ORPHAN_AFTER_MS = 30_000;

export class ConflictError extends Error {
  override name = "ConflictError";
}

const nowIso = () => new Date().toISOString();

/** known_hosts lines as `ssh-keyscan` and ssh write them: one key per line. */
const hostKeyLinesSchema = z
  .array(
    z
      .string()
      .min(1)
      .max(16_384)
      .regex(/^[^\r\n\0]+$/, "a known_hosts line holds no line break"),
  )
  .min(1, "no host key to pin")
  .max(64);

function parseHostKeys(key: string, raw: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const res = hostKeyLinesSchema.safeParse(parsed);
  if (!res.success) {
    throw new Error(
      `${key} does not hold pinned SSH host keys (a JSON array of known_hosts lines): delete it to pin the git host's key again on the next build`,
    );
  }
  return res.data;
}

class AppRepo extends HashRepo<typeof appSchema> {
  constructor(
    redis: Redis,
    private readonly keys: RecordKeys,
  ) {
    super(redis, appSchema, keys.app, "app");
  }

  /**
   * The app, its `hostKeys` being the pinned SSH host keys of its git host: the record's own (the
   * API's: scanned when linking, or pinned by a manual build's ls-remote), else those the builder
   * pinned on first use under their own key (`appHostKeys`). An app record pinned before that key
   * existed keeps its pins: the field is read first, nothing needs moving.
   */
  override async get(name: string): Promise<App | undefined> {
    const app = await super.get(name);
    return app ? (await this.withPinnedHostKeys([app]))[0] : undefined;
  }

  override async getMany(names: string[]): Promise<App[]> {
    return this.withPinnedHostKeys(await super.getMany(names));
  }

  /**
   * Pins the git host's keys on first use (the builder's, after its first clone): stored only
   * while none are, so of two first builds the first pin stands. False when keys were pinned already.
   */
  async pinHostKeys(name: string, lines: string[]): Promise<boolean> {
    const valid = hostKeyLinesSchema.parse(lines);
    return (await this.redis.set(this.keys.appHostKeys(name), JSON.stringify(valid), "NX")) === "OK";
  }

  private async withPinnedHostKeys(apps: App[]): Promise<App[]> {
    const unpinned = apps.filter((a) => !a.hostKeys?.length);
    if (unpinned.length === 0) return apps;
    const stored = await this.redis.mget(...unpinned.map((a) => this.keys.appHostKeys(a.name)));
    const pins = new Map(unpinned.map((a, i) => [a.name, stored[i]]));
    return apps.map((a) => {
      const raw = pins.get(a.name);
      return raw ? { ...a, hostKeys: parseHostKeys(this.keys.appHostKeys(a.name), raw) } : a;
    });
  }

  /** Creates the app; throws ConflictError when the name is taken. */
  async create(input: Omit<App, "createdAt" | "updatedAt"> & Partial<Pick<App, "createdAt">>): Promise<App> {
    const now = input.createdAt ?? nowIso();
    const app = appSchema.parse({ ...input, createdAt: now, updatedAt: now });
    const created = await this.scripts.createUnique(
      this.keys.app(app.name),
      this.keys.apps,
      Date.parse(now),
      app.name,
      ...encodeFields(app),
    );
    if (created !== 1) throw new ConflictError(`app ${app.name} already exists`);
    if (app.hookId) await this.redis.set(this.keys.hook(app.hookId), app.name);
    return app;
  }

  async list(): Promise<App[]> {
    return this.getMany(await this.names());
  }

  /** Every app's name (no record read). */
  async names(): Promise<string[]> {
    return this.redis.zrange(this.keys.apps, 0, -1);
  }

  async update(name: string, fields: Partial<Omit<App, "name" | "createdAt">>): Promise<App | undefined> {
    const ok = await this.patch(name, { ...fields, updatedAt: nowIso() });
    return ok ? this.require(name) : undefined;
  }

  /** Resolves a webhook URL's hook id to its app. */
  async byHookId(hookId: string): Promise<App | undefined> {
    const name = await this.redis.get(this.keys.hook(hookId));
    return name ? this.get(name) : undefined;
  }

  async setHookId(name: string, hookId: string, previous?: string): Promise<void> {
    const multi = this.redis.multi().set(this.keys.hook(hookId), name);
    if (previous && previous !== hookId) multi.del(this.keys.hook(previous));
    await multi.exec();
  }

  /**
   * Deletes the app record and its environments; its builds and releases stay as history, and its
   * numbers keep counting.
   */
  async delete(name: string): Promise<boolean> {
    const app = await this.get(name);
    if (!app) return false;
    const environments = await this.redis.zrange(this.keys.appEnvironments(name), 0, -1);
    const previews = await this.redis.zrange(this.keys.appPreviews(name), 0, -1);
    // The pinned host keys go with it: an app made later under this name may use another git host.
    // So do its environments: an app made later under this name starts with production only.
    const multi = this.redis
      .multi()
      .del(
        this.keys.app(name),
        this.keys.appHostKeys(name),
        this.keys.appEnvironments(name),
        this.keys.environment(name, PRODUCTION),
        ...environments.map((e) => this.keys.environment(name, e)),
        // Its previews' records too (their containers are the deployer's to remove).
        this.keys.appPreviews(name),
        ...previews.map((iid) => this.keys.preview(name, Number(iid))),
      )
      .zrem(this.keys.apps, name);
    if (app.hookId) multi.del(this.keys.hook(app.hookId));
    await multi.exec();
    return true;
  }
}

class BuildRepo extends HashRepo<typeof buildSchema> {
  constructor(
    redis: Redis,
    private readonly keys: RecordKeys,
    private readonly retention: Retention = new Retention(redis, keys),
  ) {
    super(redis, buildSchema, keys.build, "build");
  }

  /**
   * Moves the build's status (see lifecycle/move.ts; services use lifecycle/builds.ts, which also
   * sends the notify jobs). A build that finishes starts its retention time (record and log together).
   */
  async transition(
    id: string,
    from: readonly BuildStatus[],
    fields: Partial<Build> & { status: BuildStatus },
  ): Promise<TransitionResult<Build>> {
    const res = await moveRecord(this.redis, this.keys, "build", buildSchema, id, from, fields);
    if (res.ok && finishedBuildStatuses.has(fields.status)) await this.retention.expire([this.keys.build(id)]);
    return res;
  }

  /** Records a queued build with the app's next build number (its build.pending events are left to the outbox drainer). */
  async create(input: Omit<Build, "id" | "number" | "status" | "createdAt"> & { id?: string }): Promise<Build> {
    return (await this.createWithEvents(input)).build;
  }

  /** As `create`, also returning the outbox entries of its build.pending events, to send (NotifyOutbox.send) or take back (`remove`). */
  async createWithEvents(
    input: Omit<Build, "id" | "number" | "status" | "createdAt"> & { id?: string },
  ): Promise<{ build: Build; outbox: string[] }> {
    const id = input.id ?? newId("bld");
    const draft = { ...input, id, status: "queued" as const, createdAt: nowIso() };
    buildSchema.parse({ ...draft, number: 1 });
    // Indexed first: should the process die before the build's job is stored, a sweep finds it.
    await this.redis.zadd(this.keys.acceptedBuilds, Date.parse(draft.createdAt), id);
    const [number, outbox] = await this.scripts.createNumbered(
      {
        seq: this.keys.buildSeq(input.app),
        record: this.keys.build(id),
        index: this.keys.appBuilds(input.app),
        outbox: this.keys.notifyOutbox,
      },
      scriptContext(this.keys),
      "build",
      id,
      ...encodeFields(draft),
    );
    if (number === 0) throw new ConflictError(`build ${id} already exists`);
    return { build: buildSchema.parse({ ...draft, number }), outbox };
  }

  /**
   * Records a queued build unless `once.key` already names a build (a webhook delivery's dedupe
   * key): the key, the record and both indexes are written in one atomic step, so of simultaneous
   * deliveries exactly one creates a build. `once.openIndex` is a second index (the ref's open
   * builds); its members come back with a created build. The key lasts `ttlMs` on the caller's
   * clock `once.now` (default: this process's): it expires at that absolute time, and one the
   * caller's clock has passed is taken as absent.
   */
  async createOnce(
    input: Omit<Build, "id" | "number" | "status" | "createdAt"> & { id?: string },
    once: { key: string; ttlMs: number; openIndex: string; now?: number },
  ): Promise<{ created: true; build: Build; open: string[]; outbox: string[] } | { created: false; id: string }> {
    const id = input.id ?? newId("bld");
    const now = once.now ?? Date.now();
    const draft = { ...input, id, status: "queued" as const, createdAt: nowIso() };
    // Parsed once, before anything is stored; only the number comes back from Redis.
    const valid = buildSchema.parse({ ...draft, number: 1 });
    const out = await this.scripts.createNumberedOnce(
      {
        once: once.key,
        seq: this.keys.buildSeq(input.app),
        record: this.keys.build(id),
        index: this.keys.appBuilds(input.app),
        openIndex: once.openIndex,
        acceptedIndex: this.keys.acceptedBuilds,
        outbox: this.keys.notifyOutbox,
      },
      scriptContext(this.keys),
      id,
      now,
      now + once.ttlMs,
      ...encodeFields(draft),
    );
    if (out[0] === 0) return { created: false, id: out[1] };
    return { created: true, build: { ...valid, number: out[1] }, open: out[2], outbox: out[3] };
  }

  /** Takes back a `createOnce` whose job could not be stored: the key (if still this build's), record, indexes and notify jobs. */
  async undoCreateOnce(build: Pick<Build, "id" | "app">, once: { key: string; openIndex: string }, outbox: string[] = []): Promise<void> {
    await this.scripts.undoCreateOnce(
      {
        once: once.key,
        record: this.keys.build(build.id),
        index: this.keys.appBuilds(build.app),
        openIndex: once.openIndex,
        acceptedIndex: this.keys.acceptedBuilds,
        outbox: this.keys.notifyOutbox,
      },
      build.id,
      outbox,
    );
  }

  /** Takes back a `create` whose job could not be stored: the record, its indexes and its notify jobs. */
  async remove(build: Pick<Build, "id" | "app">, outbox: string[] = []): Promise<void> {
    const multi = this.redis
      .multi()
      .del(this.keys.build(build.id))
      .zrem(this.keys.appBuilds(build.app), build.id)
      .zrem(this.keys.acceptedBuilds, build.id);
    if (outbox.length) multi.zrem(this.keys.notifyOutbox, ...outbox);
    await multi.exec();
  }

  /** Indexes a build among its ref's open builds (those a newer push may supersede). */
  async markOpen(build: Pick<Build, "id" | "app" | "ref" | "number">): Promise<void> {
    await this.redis.zadd(this.keys.openBuilds(build.app, build.ref), build.number, build.id);
  }

  /** The ref's open builds. */
  async openIds(app: string, ref: string): Promise<string[]> {
    return this.redis.zrange(this.keys.openBuilds(app, ref), 0, -1);
  }

  /** Takes builds out of their ref's open builds (finished, or no longer to be superseded). */
  async closeOpen(app: string, ref: string, ids: string[]): Promise<void> {
    if (ids.length) await this.redis.zrem(this.keys.openBuilds(app, ref), ...ids);
  }

  /** Drops a once key while it still names `id` (its build is gone), so the next delivery creates one. */
  async releaseOnce(key: string, id: string): Promise<boolean> {
    return (await this.scripts.releaseOnce(key, id)) === 1;
  }

  /** Builds accepted before `before` (ms) that no sweep has settled yet, oldest first. */
  async acceptedBefore(before: number, limit = 500): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.acceptedBuilds, "-inf", before, "LIMIT", 0, limit);
  }

  /** The builds' statuses in one round trip, without decoding whole records (undefined: missing). */
  async statuses(ids: string[]): Promise<(Build["status"] | undefined)[]> {
    if (ids.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.keys.build(id), "status");
    const results = (await pipe.exec()) ?? [];
    return ids.map((_, i) => {
      const [err, raw] = results[i] ?? [null, null];
      if (err) throw err;
      return typeof raw === "string" ? (JSON.parse(raw) as Build["status"]) : undefined;
    });
  }

  /** Settles accepted builds: their job is known to be stored (or they need none). */
  async settleAccepted(ids: string[]): Promise<void> {
    if (ids.length) await this.redis.zrem(this.keys.acceptedBuilds, ...ids);
  }

  /** The app's builds, newest first. */
  async listByApp(app: string, limit = 50, offset = 0): Promise<Build[]> {
    const ids = await this.redis.zrevrange(this.keys.appBuilds(app), offset, offset + limit - 1);
    return this.getMany(ids);
  }
}

class ReleaseRepo extends HashRepo<typeof releaseSchema> {
  constructor(
    redis: Redis,
    private readonly keys: RecordKeys,
    private readonly retention: Retention = new Retention(redis, keys),
  ) {
    super(redis, releaseSchema, keys.release, "release");
  }

  /** Moves the release's status (as BuildRepo's); a release that fails starts its retention time, one deployed again is kept. */
  async transition(
    id: string,
    from: readonly ReleaseStatus[],
    fields: Partial<Release> & { status: ReleaseStatus },
    lock?: { key: string; token: string },
  ): Promise<TransitionResult<Release>> {
    const res = await moveRecord(this.redis, this.keys, "release", releaseSchema, id, from, fields, lock);
    if (res.ok) {
      if (fields.status === "failed" || fields.status === "rejected") await this.retention.expire([this.keys.release(id)]);
      else await this.retention.keep([this.keys.release(id), this.keys.build(res.record.buildId)]);
    }
    return res;
  }

  /**
   * After a deploy: the live release and its build (records and logs) are kept for as long as they
   * are live; the release it replaced and that one's build start their retention time. `buildId`s
   * are read from the records when not given.
   */
  async retainLive(live: Pick<Release, "id" | "buildId">, replaced?: string): Promise<void> {
    await this.retention.keep([this.keys.release(live.id), this.keys.build(live.buildId)]);
    if (!replaced) return;
    const old = await this.get(replaced);
    // A rollback's release may share its build with the live one, and a promotion's with the live
    // release of another environment: that build stays kept.
    const build =
      old && old.buildId !== live.buildId && !(await this.liveBuilds(old.app)).has(old.buildId) ? [this.keys.build(old.buildId)] : [];
    await this.retention.expire([this.keys.release(replaced), ...build]);
  }

  /** The builds of the releases live in the app's environments now. */
  private async liveBuilds(app: string): Promise<Set<string>> {
    const envs = [PRODUCTION, ...(await this.redis.zrange(this.keys.appEnvironments(app), 0, -1))];
    const ids = (await this.redis.mget(...envs.map((e) => this.keys.liveRelease(deployUnit(app, e))))).filter((id): id is string => !!id);
    return new Set((await this.getMany(ids)).map((r) => r.buildId));
  }

  /** A release that failed outside `transition` (the lifecycle's deploy scripts) starts its retention time. */
  async expireFailed(id: string): Promise<void> {
    await this.retention.expire([this.keys.release(id)]);
  }

  /**
   * A pending release numbered in its environment (production when none is named: every caller from
   * before environments), indexed among that environment's releases.
   */
  async create(
    input: Omit<Release, "id" | "number" | "status" | "createdAt" | "environment"> & { id?: string; environment?: string },
  ): Promise<Release> {
    const id = input.id ?? newId("rel");
    const environment = input.environment ?? PRODUCTION;
    const draft = { ...input, id, environment, status: "pending" as const, createdAt: nowIso() };
    releaseSchema.parse({ ...draft, number: 1 });
    const [number] = await this.scripts.createNumbered(
      {
        seq: this.keys.environmentReleaseSeq(input.app, environment),
        record: this.keys.release(id),
        index: this.keys.environmentReleases(input.app, environment),
        outbox: this.keys.notifyOutbox,
      },
      scriptContext(this.keys),
      "release",
      id,
      ...encodeFields(draft),
    );
    if (number === 0) throw new ConflictError(`release ${id} already exists`);
    return releaseSchema.parse({ ...draft, number });
  }

  /** The app's production releases (all of an app's releases before environments), newest first. */
  async listByApp(app: string, limit = 50, offset = 0): Promise<Release[]> {
    return this.listByEnvironment(app, PRODUCTION, limit, offset);
  }

  /** One environment's releases, newest first. */
  async listByEnvironment(app: string, environment: string, limit = 50, offset = 0): Promise<Release[]> {
    const ids = await this.redis.zrevrange(this.keys.environmentReleases(app, environment), offset, offset + limit - 1);
    return this.getMany(ids);
  }

  /** The live release of an app's environment, if any (the deployer's live pointer). */
  async live(app: string, environment: string = PRODUCTION): Promise<Release | undefined> {
    const id = await this.redis.get(this.keys.liveRelease(deployUnit(app, environment)));
    return id ? this.get(id) : undefined;
  }
}

class GitlabConnectionRepo extends HashRepo<typeof gitlabConnectionSchema> {
  constructor(
    redis: Redis,
    private readonly keys: RecordKeys,
  ) {
    super(redis, gitlabConnectionSchema, keys.gitlabConnection, "GitLab connection");
  }

  /** `id` may be allocated by the caller, whose sealed token is bound to it. */
  async create(input: Omit<GitlabConnection, "id" | "createdAt"> & { id?: string }): Promise<GitlabConnection> {
    const conn = gitlabConnectionSchema.parse({ ...input, id: input.id ?? newId("glc"), createdAt: nowIso() });
    await this.scripts.createUnique(
      this.keys.gitlabConnection(conn.id),
      this.keys.gitlabConnections,
      Date.parse(conn.createdAt),
      conn.id,
      ...encodeFields(conn),
    );
    return conn;
  }

  async list(): Promise<GitlabConnection[]> {
    return this.getMany(await this.redis.zrange(this.keys.gitlabConnections, 0, -1));
  }
}

/** Every repository over one Redis connection and key prefix. */
export class Records {
  readonly keys: RecordKeys;
  readonly apps: AppRepo;
  readonly builds: BuildRepo;
  readonly releases: ReleaseRepo;
  readonly environments: EnvironmentRepo;
  readonly gitlabConnections: GitlabConnectionRepo;
  readonly previews: PreviewRepo;

  constructor(
    readonly redis: Redis,
    prefix: string,
    opts: { retentionDays?: number /** The previews' clock (updatedAt, the TTL's measure). */; now?: () => number } = {},
  ) {
    this.keys = recordKeys(prefix);
    const retention = new Retention(redis, this.keys, opts.retentionDays);
    this.apps = new AppRepo(redis, this.keys);
    this.builds = new BuildRepo(redis, this.keys, retention);
    this.releases = new ReleaseRepo(redis, this.keys, retention);
    this.environments = new EnvironmentRepo(redis, this.keys, this.apps);
    this.gitlabConnections = new GitlabConnectionRepo(redis, this.keys);
    this.previews = new PreviewRepo(redis, this.keys, opts.now);
  }

  /** A build, a release and an app read in one round trip (each undefined when not asked for or missing). */
  async readTogether(ids: { build?: string; release?: string; app?: string }): Promise<{ build?: Build; release?: Release; app?: App }> {
    const pipe = this.redis.pipeline();
    const asked = (
      [
        ["build", ids.build, this.keys.build, buildSchema],
        ["release", ids.release, this.keys.release, releaseSchema],
        ["app", ids.app, this.keys.app, appSchema],
      ] as const
    ).filter(([, id]) => id !== undefined);
    for (const [, id, keyOf] of asked) pipe.hgetall(keyOf(id as string));
    const results = (await pipe.exec()) ?? [];
    const out: { build?: Build; release?: Release; app?: App } = {};
    asked.forEach(([name, id, keyOf, schema], i) => {
      const [err, hash] = results[i] ?? [new Error("no reply"), {}];
      if (err) throw err;
      const rec = decodeHash(schema, keyOf(id as string), hash as Record<string, string>);
      if (rec) (out as Record<string, unknown>)[name] = rec;
    });
    return out;
  }
}
