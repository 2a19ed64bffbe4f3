/**
 * Redis ACL users, one per service, so that a service (or an app's code that reaches Redis) can
 * do only what that service's role needs. Key patterns follow the record keys
 * (`records/keys.ts`), the log streams (`logs/stream.ts`), BullMQ's keys (`<prefix>:<queue>:*`)
 * and the services' own keys (`<prefix>:builder:*`, `<prefix>:deployer:*`, ...).
 *
 * Redis checks every command a Lua script runs against the calling user, so the record scripts
 * are covered by the same rules. `%R~` grants read access only, `%W~` write only, `~` both.
 */
export const SERVICE_USERS = ["api", "builder", "deployer", "notifier"] as const;
export type ServiceUser = (typeof SERVICE_USERS)[number];

/** The ACL user name of a service. */
export function serviceUserName(service: ServiceUser): string {
  return `hoist-${service}`;
}

// Commands no service needs: server administration, key scans, flushing, debugging.
// INFO stays (BullMQ reads the server version; Hoist checks maxmemory-policy), as do CLIENT SETNAME
// and the scripting commands BullMQ and the records use.
const COMMANDS = ["+@all", "-@admin", "-@dangerous", "+info", "+client|setname", "+client|getname", "+client|id", "+memory|usage"];

function queueKeys(p: string, queues: readonly string[]): string[] {
  return queues.map((q) => `~${p}:${q}:*`);
}

/** Key and channel patterns per service, for a queue/record prefix. */
export function serviceKeyPatterns(prefix: string, service: ServiceUser): string[] {
  const p = prefix;
  const rec = `${p}:rec`;
  const events = `&${p}:events:*`;
  switch (service) {
    case "api":
      // The API owns apps, connections, hooks, deliveries, sessions and creates builds; it
      // enqueues builds, deploys (promote, rollback) and notifications.
      return [`~${p}:*`, events];
    case "builder":
      return [
        `%R~${rec}:*`,
        `%W~${rec}:build:*`,
        `%W~${rec}:builds:*`,
        `%W~${rec}:release:*`,
        `%W~${rec}:app:*:builds`,
        `%W~${rec}:app:*:releases`,
        `%W~${rec}:app:*:seq:release`,
        `%W~${rec}:app:*:open:*`,
        `~${p}:builder:*`,
        ...queueKeys(p, ["build", "deploy", "notify"]),
        events,
      ];
    case "deployer":
      return [`%R~${rec}:*`, `%W~${rec}:release:*`, `%W~${rec}:app:*:releases`, `~${p}:deployer:*`, ...queueKeys(p, ["deploy", "notify"])];
    case "notifier":
      // Reads records to render messages; writes nothing but its own queue and sent-markers
      // (which live under the notify queue's namespace).
      return [`%R~${rec}:*`, ...queueKeys(p, ["notify"])];
  }
}

/** `ACL SETUSER` arguments (after the user name) for a service with a password. */
export function serviceAclRules(prefix: string, service: ServiceUser, password: string): string[] {
  if (/\s/.test(password) || password.length < 16) {
    throw new Error(`the Redis password of ${service} must be 16+ characters without spaces`);
  }
  return ["reset", "on", `>${password}`, ...serviceKeyPatterns(prefix, service), ...COMMANDS];
}

/**
 * The lines of an ACL file (`aclfile` in redis.conf): the default user with the admin password
 * (operators, migrations, tests), then one user per service.
 */
export function aclFile(prefix: string, passwords: { admin: string } & Record<ServiceUser, string>): string {
  const lines = [`user default on >${passwords.admin} ~* &* +@all`];
  for (const service of SERVICE_USERS) {
    lines.push(`user ${serviceUserName(service)} ${serviceAclRules(prefix, service, passwords[service]).join(" ")}`);
  }
  return `${lines.join("\n")}\n`;
}

/** A redis:// URL for a service user, from a base URL (host, port, db, TLS kept). */
export function serviceRedisUrl(baseUrl: string, service: ServiceUser, password: string): string {
  const url = new URL(baseUrl);
  url.username = serviceUserName(service);
  url.password = password;
  return url.toString();
}
