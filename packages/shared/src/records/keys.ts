import { createHash } from "node:crypto";
import { PRODUCTION } from "../environments/names.js";

/**
 * The catalog of every Redis key Hoist writes outside BullMQ's own (as BullMQ's queue-keys.ts):
 * records under `${prefix}:rec`, the deployer's lock and live pointer, and the few keys of the
 * services. No service builds a key string itself. With a `{braces}` prefix all keys share one
 * Redis Cluster slot, which the multi-key scripts need. Each string is part of the stored data
 * (and of Redis ACL key patterns): changing one orphans what is stored under the old one.
 */
export function recordKeys(prefix: string) {
  const p = `${prefix}:rec`;
  return {
    apps: `${p}:apps`,
    app: (name: string) => `${p}:app:${name}`,
    appBuilds: (name: string) => `${p}:app:${name}:builds`,
    /** The app's production releases (every release stored before environments is one). */
    appReleases: (name: string) => `${p}:app:${name}:releases`,
    buildSeq: (name: string) => `${p}:app:${name}:seq:build`,
    releaseSeq: (name: string) => `${p}:app:${name}:seq:release`,
    /** The app's environments other than production, by creation time (production is always there). */
    appEnvironments: (app: string) => `${p}:app:${app}:envs`,
    /** An environment's record (production's holds only its policy: see schemas.ts environmentSchema). */
    environment: (app: string, env: string) => `${p}:app:${app}:env:${env}:config`,
    /** An environment's releases by number: production's are the app's own (appReleases). */
    environmentReleases: (app: string, env: string) =>
      env === PRODUCTION ? `${p}:app:${app}:releases` : `${p}:app:${app}:env:${env}:releases`,
    /** An environment's next release number (each environment numbers its own releases). */
    environmentReleaseSeq: (app: string, env: string) =>
      env === PRODUCTION ? `${p}:app:${app}:seq:release` : `${p}:app:${app}:env:${env}:seq:release`,
    /** The preview of merge request `iid` (records/previews.ts): its environment is `mr-<iid>`. */
    preview: (app: string, iid: number) => `${p}:app:${app}:preview:${iid}`,
    /** The app's previews by last update (score: updatedAt in ms, member: iid). */
    appPreviews: (app: string) => `${p}:app:${app}:previews`,
    /**
     * The git host's SSH host keys the builder pinned on first use (a JSON array of known_hosts
     * lines): a key of its own, so the builder never needs write access to the app record.
     */
    appHostKeys: (name: string) => `${p}:app:${name}:host-keys`,
    /**
     * The builds of one app and ref that may still need superseding, scored by build number
     * (the ref hashed: refs may hold any character).
     */
    openBuilds: (app: string, ref: string) => `${p}:app:${app}:open:${createHash("sha256").update(ref).digest("hex").slice(0, 32)}`,
    build: (id: string) => `${p}:build:${id}`,
    /** Builds accepted (record stored) by time, until a sweep finds their job stored: see BuildRepo.orphans. */
    acceptedBuilds: `${p}:builds:accepted`,
    release: (id: string) => `${p}:release:${id}`,
    gitlabConnections: `${p}:gitlab`,
    gitlabConnection: (id: string) => `${p}:gitlab:${id}`,
    hook: (hookId: string) => `${p}:hook:${hookId}`,
    /** A webhook delivery's dedupe key, naming the build it created. */
    delivery: (hookId: string, key: string) => `${p}:hook:${hookId}:delivery:${key}`,
    /**
     * Notify jobs written by a transition, until moved onto the notify queue (lifecycle/outbox.ts).
     * In the notify queue's namespace, which every service that moves a status may write (redis/acl.ts).
     */
    notifyOutbox: `${prefix}:notify:outbox`,
    /**
     * The deploy lock of one deploy unit (an app's environment: environments/names.ts deployUnit,
     * production's being the app's name, as before environments), its fencing-token counter and the
     * deploys waiting for it.
     */
    deployLock: (unit: string) => `${prefix}:deployer:lock:${unit}`,
    deployFence: (unit: string) => `${prefix}:deployer:fence:${unit}`,
    deployWaiters: (unit: string) => `${prefix}:deployer:waiters:${unit}`,
    /** The id of a deploy unit's live release (production's: `<prefix>:deployer:live:<app>`). */
    liveRelease: (unit: string) => `${prefix}:deployer:live:${unit}`,
    /** An ECS rollout in progress (keyed by release id). */
    ecsRollout: (id: string) => `${prefix}:deployer:ecs:${id}`,
    /** The lease of the builder's orphan sweep (one builder sweeps at a time). */
    orphanSweep: `${prefix}:builder:orphan-sweep`,
    /** A Standard Webhooks message id already seen for a hook (replay guard). */
    webhookSeen: (hookId: string, messageId: string) => `${prefix}:webhook-seen:${hookId}:${messageId}`,
    /** A dashboard session, under the SHA-256 of its id (a key written with a raw id is no session). */
    session: (id: string) => `${prefix}:session:${createHash("sha256").update(id).digest("hex")}`,
    /**
     * People and access (services/api/src/auth), under `:auth:`, which only the API's Redis user
     * reaches: API tokens by id, and the SHA-256 of each token → its id.
     */
    apiTokens: `${prefix}:auth:tokens`,
    apiToken: (id: string) => `${prefix}:auth:token:${id}`,
    apiTokenByHash: (hash: string) => `${prefix}:auth:token-hash:${hash}`,
    /** Explicit role grants of GitLab users (hash: `<userId>` or `<userId>:<app>` → role). */
    grants: `${prefix}:auth:grants`,
    /** A GitLab user who signed in (id from the OIDC `sub`), with the name and email GitLab gave. */
    person: (userId: string) => `${prefix}:auth:person:${userId}`,
    /** A user's roles per app as GitLab's access levels derived them (hash app → role and time), cleared at sign-in. */
    gitlabRoles: (userId: string) => `${prefix}:auth:gitlab-roles:${userId}`,
    /** An OAuth sign-in in flight (PKCE verifier, nonce), under the SHA-256 of its `state`. */
    oauthState: (state: string) => `${prefix}:auth:oauth:${createHash("sha256").update(state).digest("hex")}`,
    /** Failed sign-ins and bad tokens from one client address in the current minute. */
    authFailures: (address: string) => `${prefix}:auth:failures:${address}`,
    /** The audit log: one stream entry per write, trimmed by age. */
    audit: `${prefix}:audit`,
    /** The channel builders hear cancels on. */
    buildCanceledChannel: `${prefix}:events:build-canceled`,
    /** The workers' dependency reports (Docker API, registry), read by the API for /healthz and the dashboard. */
    dependencyReports: `${prefix}:dependencies`,
    /** The GitLab deployment (its id) the notifier made for a release's rollout, for its later status updates. */
    gitlabDeployment: (releaseId: string) => `${prefix}:notify:gitlab-deployment:${releaseId}`,
    /** The notifier's marker that one destination was told one event. */
    notifySent: (destination: string, event: string, subjectId: string) => `${prefix}:notify:sent:${destination}:${event}:${subjectId}`,
  };
}
export type RecordKeys = ReturnType<typeof recordKeys>;
