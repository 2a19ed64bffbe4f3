import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { aclFile, SERVICE_USERS, type ServiceUser, serviceRedisUrl } from "@hoist/shared";

export type SuitePasswords = { admin: string } & Record<ServiceUser, string>;

/** The passwords scripts/services-up.sh emits (HOIST_REDIS_PASSWORD_<USER>), if `env` has them all. */
export function passwordsIn(env: Record<string, string | undefined>): SuitePasswords | undefined {
  const get = (who: string) => env[`HOIST_REDIS_PASSWORD_${who.toUpperCase()}`];
  const admin = get("admin");
  if (!admin || SERVICE_USERS.some((s) => !get(s))) return undefined;
  return Object.fromEntries([["admin", admin], ...SERVICE_USERS.map((s) => [s, get(s)])]) as SuitePasswords;
}

/** The passwords of the suite's Redis users, or undefined when the suite runs on a Redis without them. */
export function suitePasswords(): SuitePasswords | undefined {
  return passwordsIn(process.env);
}

const isServiceUser = (name: string): name is ServiceUser => (SERVICE_USERS as readonly string[]).includes(name);

/**
 * The REDIS_URL a service process gets: the admin URL of a Redis with the suite's users (the suite's
 * own, or one a test started with `suiteAclArgs`) becomes the service's own user, as in production.
 * Any other URL (another user's, a Redis without these users) is kept as the test wrote it.
 */
export function asServiceUser(service: string, url: string): string {
  const passwords = suitePasswords();
  if (!passwords || !isServiceUser(service)) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url; // a test of a malformed REDIS_URL
  }
  const admin = (parsed.username === "" || parsed.username === "default") && decodeURIComponent(parsed.password) === passwords.admin;
  return admin ? serviceRedisUrl(url, service, passwords[service]) : url;
}

/**
 * redis-server arguments that give a Redis a test starts itself the suite's users (all prefixes),
 * and its admin URL; no arguments (and a plain URL) when the suite runs without ACL users.
 */
export function suiteAcl(dir: string, port: number): { args: string[]; url: string } {
  const passwords = suitePasswords();
  if (!passwords) return { args: [], url: `redis://127.0.0.1:${port}` };
  const file = join(dir, "users.acl");
  writeFileSync(file, aclFile("*", passwords), { mode: 0o600 });
  return { args: ["--aclfile", file], url: `redis://default:${passwords.admin}@127.0.0.1:${port}` };
}
