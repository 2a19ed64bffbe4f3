import { type OutboundFetch, type Records, type Redis, recordKeys, type SecretBox, secretContexts } from "@hoist/shared";
import { z } from "zod";
import { GitlabClient } from "../adapters/gitlab.js";
import { higher, lower, type Principal, type Role, roleFromAccessLevel, roleSchema } from "./roles.js";

/** How long a role derived from GitLab holds before GitLab is asked again (and at every sign-in). */
export const GITLAB_ROLE_REFRESH_MS = 10 * 60_000;

const cachedSchema = z.object({ role: roleSchema.nullable(), at: z.number() });

interface AccessDeps {
  redis: Redis;
  prefix: string;
  records: Records;
  secrets: SecretBox;
  fetch: OutboundFetch;
  now: () => number;
}

/** The grant field of a user's global role, or of their role on one app. */
const grantField = (userId: string, app?: string) => (app ? `${userId}:${app}` : userId);

/**
 * What a principal may do, per app and globally. A GitLab user's role on an app is the higher of
 * their global grant and either their explicit grant on the app (which overrides GitLab) or the
 * role their GitLab access level on the app's project gives.
 */
export class Access {
  private readonly keys: ReturnType<typeof recordKeys>;
  constructor(private readonly deps: AccessDeps) {
    this.keys = recordKeys(deps.prefix);
  }

  /** The role that holds for every app (and for what belongs to none: tokens, GitLab connections, people). */
  async globalRole(p: Principal): Promise<Role | undefined> {
    if (p.kind === "bootstrap") return "admin";
    if (p.kind === "token") return p.apps ? undefined : this.capped(p, p.role, undefined);
    return this.grant(p.id);
  }

  /** A user's personal token never does more than the user may do now (GitLab access removed: so is the token's). */
  private async capped(p: Extract<Principal, { kind: "token" }>, role: Role, app: string | undefined): Promise<Role | undefined> {
    const user = p.owner?.startsWith("user:") ? p.owner.slice(5) : undefined;
    if (!user) return role;
    const owner: Principal = { kind: "user", id: user, name: user };
    return lower(role, app === undefined ? await this.globalRole(owner) : await this.appRole(owner, app));
  }

  async appRole(p: Principal, app: string): Promise<Role | undefined> {
    if (p.kind === "bootstrap") return "admin";
    if (p.kind === "token") return !p.apps || p.apps.includes(app) ? this.capped(p, p.role, app) : undefined;
    const [global, explicit] = await Promise.all([this.grant(p.id), this.grant(p.id, app)]);
    if (global === "admin") return "admin";
    return higher(global, explicit ?? (await this.gitlabRole(p.id, app)));
  }

  /** Whether the principal has `role` on at least one app, or globally (lists filter to what they see). */
  async anyRole(p: Principal, role: Role, atLeastFn: (have: Role | undefined, need: Role) => boolean): Promise<boolean> {
    if (atLeastFn(await this.globalRole(p), role)) return true;
    const apps = await this.deps.records.apps.list();
    for (const app of apps) if (atLeastFn(await this.appRole(p, app.name), role)) return true;
    return false;
  }

  async grant(userId: string, app?: string): Promise<Role | undefined> {
    const raw = await this.deps.redis.hget(this.keys.grants, grantField(userId, app));
    return raw ? roleSchema.parse(raw) : undefined;
  }

  /** Sets (or, with null, removes) a user's global grant or their grant on one app. */
  async setGrant(userId: string, app: string | undefined, role: Role | null): Promise<void> {
    if (role === null) await this.deps.redis.hdel(this.keys.grants, grantField(userId, app));
    else await this.deps.redis.hset(this.keys.grants, grantField(userId, app), role);
  }

  async grants(): Promise<{ user: string; app?: string; role: Role }[]> {
    const all = await this.deps.redis.hgetall(this.keys.grants);
    return Object.entries(all)
      .map(([field, role]) => {
        const [user, app] = field.split(":", 2) as [string, string | undefined];
        return { user, ...(app ? { app } : {}), role: roleSchema.parse(role) };
      })
      .sort((a, b) => `${a.user}:${a.app ?? ""}`.localeCompare(`${b.user}:${b.app ?? ""}`));
  }

  /** Forgets every role GitLab gave the user: the next request asks GitLab again (sign-in does this). */
  async refreshGitlabRoles(userId: string): Promise<void> {
    await this.deps.redis.del(this.keys.gitlabRoles(userId));
  }

  /**
   * The role the user's GitLab access level on the app's linked project gives, asked with the
   * app's GitLab connection and cached for at most GITLAB_ROLE_REFRESH_MS. An unlinked app gives none.
   */
  async gitlabRole(userId: string, appName: string): Promise<Role | undefined> {
    const key = this.keys.gitlabRoles(userId);
    const now = this.deps.now();
    const raw = await this.deps.redis.hget(key, appName);
    const cached = raw ? cachedSchema.safeParse(JSON.parse(raw)) : undefined;
    if (cached?.success && now - cached.data.at < GITLAB_ROLE_REFRESH_MS && cached.data.at <= now) return cached.data.role ?? undefined;
    const role = await this.askGitlab(userId, appName);
    await this.deps.redis
      .multi()
      .hset(key, appName, JSON.stringify({ role: role ?? null, at: now }))
      .expire(key, Math.ceil((2 * GITLAB_ROLE_REFRESH_MS) / 1000))
      .exec();
    return role;
  }

  private async askGitlab(userId: string, appName: string): Promise<Role | undefined> {
    const app = await this.deps.records.apps.get(appName);
    if (!app?.gitlab || !/^\d+$/.test(userId)) return undefined;
    const conn = await this.deps.records.gitlabConnections.get(app.gitlab.connectionId);
    if (!conn) return undefined;
    const token = (await this.deps.secrets.open(conn.token, secretContexts.gitlabToken(conn.id))).toString("utf8");
    const level = await new GitlabClient(conn.url, token, this.deps.fetch).memberAccessLevel(app.gitlab.projectId, Number(userId));
    return level === undefined ? undefined : roleFromAccessLevel(level);
  }
}
