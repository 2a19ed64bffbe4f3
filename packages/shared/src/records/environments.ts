import type { Redis } from "ioredis";
import type { Freeze } from "../environments/freezes.js";
import { deployUnit, PRODUCTION, parseDeployUnit } from "../environments/names.js";
import type { Sealed } from "../secrets/sealed.js";
import { decodeHash, encodeFields } from "./codec.js";
import { HashRepo } from "./hash-repo.js";
import type { RecordKeys } from "./keys.js";
import { type App, appSchema, type EnvironmentRecord, environmentSchema } from "./schemas.js";
import { recordScripts } from "./scripts.js";

/**
 * One environment of an app, resolved: production's target, variables and scale are the app's
 * own (and its policy defaults to auto, no approvals, no freezes while nothing was set); another
 * environment's are its record's.
 */
export interface Environment {
  app: string;
  name: string;
  target: App["target"];
  /** Its variables, sealed for its deploy unit (secretContexts.environmentEnv). */
  env?: Sealed;
  auto: boolean;
  requiredApprovals: number;
  freezes: Freeze[];
  createdAt: string;
  updatedAt: string;
}

/** What creating an environment other than production takes (variables sealed by the caller). */
interface EnvironmentInput {
  name: string;
  target: App["target"];
  env?: Sealed;
  auto?: boolean;
  requiredApprovals?: number;
  freezes?: Freeze[];
}

/** A change of an environment; `env: null` removes its variables. */
type EnvironmentChange = Partial<Omit<EnvironmentInput, "name" | "env">> & { env?: Sealed | null };

/** The part of the app repository production's target and variables are written through. */
interface AppWrites {
  update(name: string, fields: Partial<Omit<App, "name" | "createdAt">>): Promise<App | undefined>;
  unset(name: string, fields: (keyof App & string)[]): Promise<void>;
  get(name: string): Promise<App | undefined>;
}

export class EnvironmentExistsError extends Error {
  override name = "EnvironmentExistsError";
}

const nowIso = () => new Date().toISOString();

/**
 * An app's environments. Production is the app itself (no record needed: an app made before
 * environments is its production, unchanged); the others are records under the app's key, listed in
 * `appEnvironments` by creation time. Keys: records/keys.ts (`environment`, `appEnvironments`).
 */
export class EnvironmentRepo {
  private readonly hashes: HashRepo<typeof environmentSchema>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RecordKeys,
    private readonly apps: AppWrites,
  ) {
    // Keyed by deploy unit: production's record is `<app>`'s, another's `<app>@<env>`'s.
    this.hashes = new HashRepo(
      redis,
      environmentSchema,
      (unit) => {
        const { app, environment } = parseDeployUnit(unit);
        return keys.environment(app, environment);
      },
      "environment",
    );
  }

  /** The names of the app's environments: production first, then the others by creation. */
  async names(app: string): Promise<string[]> {
    return [PRODUCTION, ...(await this.redis.zrange(this.keys.appEnvironments(app), 0, -1))];
  }

  /** Every environment of the app, production first. */
  async list(app: App): Promise<Environment[]> {
    const names = await this.names(app.name);
    const records = await this.hashes.getMany(names.map((n) => deployUnit(app.name, n)));
    const byName = new Map(records.map((r) => [r.name, r]));
    return names.flatMap((n) => {
      const env = resolve(app, n, byName.get(n));
      return env ? [env] : [];
    });
  }

  /**
   * An app record and one of its environments in one round trip, for those who deploy (the app as
   * stored: without the git host keys the builder pinned under their own key). Undefined when
   * either is missing.
   */
  async withApp(appName: string, name: string): Promise<{ app: App; environment: Environment } | undefined> {
    const appKey = this.keys.app(appName);
    const envKey = this.keys.environment(appName, name);
    const [[appErr, appHash] = [null, {}], [envErr, envHash] = [null, {}]] = (await this.redis
      .pipeline()
      .hgetall(appKey)
      .hgetall(envKey)
      .exec()) as [Error | null, Record<string, string>][];
    if (appErr) throw appErr;
    if (envErr) throw envErr;
    const app = decodeHash(appSchema, appKey, appHash);
    if (!app) return undefined;
    const environment = resolve(app, name, decodeHash(environmentSchema, envKey, envHash));
    return environment ? { app, environment } : undefined;
  }

  /** One environment of the app; undefined when it has none of that name. */
  async get(app: App, name: string): Promise<Environment | undefined> {
    return resolve(app, name, await this.hashes.get(deployUnit(app.name, name)));
  }

  /** Creates an environment other than production; throws EnvironmentExistsError when the name is taken. */
  async create(app: App, input: EnvironmentInput): Promise<Environment> {
    if (input.name === PRODUCTION)
      throw new EnvironmentExistsError(`app ${app.name} has a production environment already (the app itself)`);
    const now = nowIso();
    const record = environmentSchema.parse({
      app: app.name,
      name: input.name,
      target: input.target,
      ...(input.env ? { env: input.env } : {}),
      auto: input.auto ?? false,
      requiredApprovals: input.requiredApprovals ?? 0,
      freezes: input.freezes ?? [],
      createdAt: now,
      updatedAt: now,
    });
    const created = await recordScripts(this.redis).createUniqueLast(
      this.keys.environment(app.name, record.name),
      this.keys.appEnvironments(app.name),
      Date.parse(now),
      record.name,
      ...encodeFields(record),
    );
    if (created !== 1) throw new EnvironmentExistsError(`app ${app.name} has an environment ${record.name} already`);
    return resolve(app, record.name, record) as Environment;
  }

  /**
   * Changes an environment. Production's target and variables are the app record's (`PATCH
   * /v1/apps/:app` and `/env` change the same fields); its policy is kept in its own record, made on
   * first change. Undefined when the app or environment is gone.
   */
  async update(app: App, name: string, change: EnvironmentChange): Promise<Environment | undefined> {
    const { target, env, ...policy } = change;
    const now = nowIso();
    if (name === PRODUCTION) {
      if (env === null) await this.apps.unset(app.name, ["env"]);
      const appFields = { ...(target ? { target } : {}), ...(env ? { env } : {}) };
      const updated =
        Object.keys(appFields).length || env === null ? await this.apps.update(app.name, appFields) : await this.apps.get(app.name);
      if (!updated) return undefined;
      if (Object.keys(policy).length) {
        // Made on first change: what was never set takes its default (HSETNX), what is changed is set.
        const key = this.keys.environment(app.name, PRODUCTION);
        const multi = this.redis.multi().hsetnx(key, "createdAt", JSON.stringify(updated.createdAt));
        for (const [field, value] of Object.entries(defaultsOf(PRODUCTION))) multi.hsetnx(key, field, JSON.stringify(value));
        await multi.hset(key, ...encodeFields({ app: app.name, name: PRODUCTION, ...policy, updatedAt: now })).exec();
      }
      return this.get(updated, PRODUCTION);
    }
    const unit = deployUnit(app.name, name);
    if (env === null) await this.hashes.unset(unit, ["env"]);
    const ok = await this.hashes.patch(unit, { ...(target ? { target } : {}), ...(env ? { env } : {}), ...policy, updatedAt: now });
    return ok ? this.get(app, name) : undefined;
  }

  /** Deletes an environment other than production (its releases stay as history); false when there was none. */
  async delete(app: string, name: string): Promise<boolean> {
    if (name === PRODUCTION) return false;
    const [[, removed] = [null, 0]] =
      (await this.redis
        .multi()
        .zrem(this.keys.appEnvironments(app), name)
        .del(this.keys.environment(app, name), this.keys.liveRelease(deployUnit(app, name)))
        .exec()) ?? [];
    return removed === 1;
  }
}

function defaultsOf(name: string): Pick<EnvironmentRecord, "auto" | "requiredApprovals" | "freezes"> {
  return { auto: name === PRODUCTION, requiredApprovals: 0, freezes: [] };
}

function resolve(app: App, name: string, record: EnvironmentRecord | undefined): Environment | undefined {
  if (name === PRODUCTION) {
    const policy = {
      ...defaultsOf(PRODUCTION),
      ...(record ? { auto: record.auto, requiredApprovals: record.requiredApprovals, freezes: record.freezes } : {}),
    };
    return {
      app: app.name,
      name: PRODUCTION,
      target: app.target,
      ...(app.env ? { env: app.env } : {}),
      ...policy,
      createdAt: record?.createdAt ?? app.createdAt,
      updatedAt: record && record.updatedAt > app.updatedAt ? record.updatedAt : app.updatedAt,
    };
  }
  if (!record?.target) return undefined;
  return {
    app: app.name,
    name,
    target: record.target,
    ...(record.env ? { env: record.env } : {}),
    auto: record.auto,
    requiredApprovals: record.requiredApprovals,
    freezes: record.freezes,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}
