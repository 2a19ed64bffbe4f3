import { createHash } from "node:crypto";
import { recordKeys } from "../records/keys.js";

/**
 * Redis ACL users, one per service, so that a service (or an app's code that reaches Redis) can
 * do only what that service's role needs. Key patterns follow the record keys
 * (`records/keys.ts`), the log streams (`logs/stream.ts`), BullMQ's keys (`<prefix>:<queue>:*`)
 * and the services' own keys (`<prefix>:builder:*`, `<prefix>:deployer:*`, ...).
 *
 * Redis checks every command a Lua script runs against the calling user, so the record scripts
 * are covered by the same rules. `%R~` grants read access only, `~` read and write. EVAL/EVALSHA
 * count their declared keys as read and written, and Redis needs one pattern that grants both
 * (a `%R~` and a `%W~` pattern on the same key do not add up): keys a service writes are `~`.
 * A `(...)` selector (Redis 7) grants commands on keys of its own.
 */
export const SERVICE_USERS = ["api", "builder", "deployer", "notifier"] as const;
export type ServiceUser = (typeof SERVICE_USERS)[number];

/** The ACL user name of a service. */
function serviceUserName(service: ServiceUser): string {
  return `hoist-${service}`;
}

// Commands no service needs: server administration, key scans, flushing, debugging.
// INFO stays (BullMQ reads the server version; Hoist checks maxmemory-policy), as do CLIENT SETNAME
// and the scripting commands BullMQ and the records use.
const COMMANDS = ["+@all", "-@admin", "-@dangerous", "+info", "+client|setname", "+client|getname", "+client|id", "+memory|usage"];

function queueKeys(p: string, queues: readonly string[]): string[] {
  return queues.map((q) => `~${p}:${q}:*`);
}

/**
 * Every worker's /metrics reports the depth of every queue (BullMQ's getJobCounts and getJobs):
 * read access to the other queues, and the queue's base key itself (`<prefix>:<queue>:`, never
 * stored: the scripts are given it to build the other keys from) read and written, as EVALSHA needs.
 */
function queueReadKeys(p: string, queues: readonly string[]): string[] {
  return queues.flatMap((q) => [`%R~${p}:${q}:*`, `~${p}:${q}:`]);
}

/** Key and channel patterns per service, for a queue/record prefix (or a glob of prefixes). */
function serviceKeyPatterns(prefix: string, service: ServiceUser): string[] {
  const p = prefix;
  const rec = `${p}:rec`;
  const events = `&${p}:events:*`;
  // Every worker reports its dependencies' state in one hash the dashboard reads.
  const dependencies = `~${p}:dependencies`;
  // Every worker appends its secret openings to the audit log (records/keys.ts audit) and can do
  // nothing else with it: XADD (its MINID trims by age), no reading, trimming or deleting.
  const auditAppend = `(%W~${recordKeys(p).audit} +xadd)`;
  switch (service) {
    case "api":
      // The API owns apps, connections, hooks, deliveries, sessions and creates builds; it
      // enqueues builds, deploys (promote, rollback), previews and notifications, and bull-board manages jobs.
      return [`~${p}:*`, events];
    case "builder":
      return [
        `%R~${rec}:*`,
        `~${rec}:build:*`,
        `~${rec}:builds:*`,
        `~${rec}:release:*`,
        // Of an app, only its release index and number, and the git host's keys it pins on first
        // use (records/keys.ts appHostKeys): the app record itself (repo URL, deploy key, env,
        // webhooks) is read-only to the builder.
        `~${rec}:app:*:releases`,
        `~${rec}:app:*:seq:release`,
        `~${rec}:app:*:host-keys`,
        `~${p}:builder:*`,
        dependencies,
        ...queueKeys(p, ["build", "deploy", "notify"]),
        ...queueReadKeys(p, ["previews"]),
        events,
        auditAppend,
      ];
    case "deployer":
      return [
        `%R~${rec}:*`,
        `~${rec}:release:*`,
        `~${rec}:app:*:releases`,
        // Previews (records/keys.ts preview, appPreviews): the deployer's previews worker keeps
        // their records, and makes and deletes their environments `mr-<iid>` (only those).
        `~${rec}:app:*:preview:*`,
        `~${rec}:app:*:previews`,
        `~${rec}:app:*:envs`,
        `~${rec}:app:*:env:mr-*`,
        // A preview's build of its MR commit is created by the previews worker as a push's is by
        // the API (records, indexes, its once-key, its build job) and an older one canceled.
        `~${rec}:build:*`,
        `~${rec}:builds:*`,
        `~${rec}:app:*:builds`,
        `~${rec}:app:*:seq:build`,
        `~${rec}:app:*:open:*`,
        `~${rec}:hook:preview:delivery:*`,
        `~${p}:deployer:*`,
        dependencies,
        ...queueKeys(p, ["build", "deploy", "notify", "previews"]),
        events,
        auditAppend,
      ];
    case "notifier":
      // Reads records to render messages; writes nothing but its own queue and sent-markers
      // (which live under the notify queue's namespace).
      return [`%R~${rec}:*`, dependencies, ...queueKeys(p, ["notify"]), ...queueReadKeys(p, ["build", "deploy", "previews"]), auditAppend];
  }
}

/** `ACL SETUSER` arguments (after the user name) for a service with a password. */
function serviceAclRules(prefix: string, service: ServiceUser, password: string): string[] {
  if (/\s/.test(password) || password.length < 16) {
    throw new Error(`the Redis password of ${service} must be 16+ characters without spaces`);
  }
  // Only the password's SHA-256 is written: the ACL file may be read by Redis's own user (compose)
  // without handing out the password.
  const patterns = serviceKeyPatterns(prefix, service);
  const selectors = patterns.filter((r) => r.startsWith("("));
  const root = patterns.filter((r) => !r.startsWith("("));
  // bull-board, in the API, lists each queue's workers (BullMQ's getWorkers is CLIENT LIST).
  const extra = service === "api" ? ["+client|list"] : [];
  return ["reset", "on", `#${sha256(password)}`, ...root, ...COMMANDS, ...extra, ...selectors];
}

/**
 * The lines of an ACL file (`aclfile` in redis.conf): the default user with the admin password
 * (operators, migrations, tests), then one user per service.
 */
export function aclFile(prefix: string, passwords: { admin: string } & Record<ServiceUser, string>): string {
  if (passwords.admin.length < 16 || /\s/.test(passwords.admin))
    throw new Error("the Redis admin password must be 16+ characters without spaces");
  const lines = [`user default on #${sha256(passwords.admin)} ~* &* +@all`];
  for (const service of SERVICE_USERS) {
    lines.push(`user ${serviceUserName(service)} ${serviceAclRules(prefix, service, passwords[service]).join(" ")}`);
  }
  return `${lines.join("\n")}\n`;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A redis:// URL for a service user, from a base URL (host, port, db, TLS kept). */
export function serviceRedisUrl(baseUrl: string, service: ServiceUser, password: string): string {
  const url = new URL(baseUrl);
  url.username = serviceUserName(service);
  url.password = password;
  return url.toString();
}
