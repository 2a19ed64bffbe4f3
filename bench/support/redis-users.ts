// Every bench runs Hoist's services as production does: each as its own Redis ACL user
// (packages/shared/src/redis/acl.ts), never as the admin the bench itself connects as.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { aclFile, SERVICE_USERS, type ServiceUser, serviceRedisUrl } from "@hoist/shared";

import type { SuitePasswords } from "../../test/support/redis-acl.js";

export type RedisUsers = SuitePasswords;

/** Fresh passwords and an ACL file over every prefix, for a redis-server the bench starts itself. */
export function freshRedisUsers(aclPath: string): RedisUsers {
  const pw = () => randomBytes(24).toString("hex");
  const users = Object.fromEntries([["admin", pw()], ...SERVICE_USERS.map((s) => [s, pw()])]) as RedisUsers;
  writeFileSync(aclPath, aclFile("*", users), { mode: 0o600 });
  return users;
}

/** The admin URL of that Redis: user default with the admin password. */
export function adminRedisUrl(host: string, port: number, users: RedisUsers): string {
  return `redis://default:${users.admin}@${host}:${port}`;
}

/**
 * REDIS_URL for each service: its own user on a Redis that has them. A Redis without the users
 * (a REDIS_URL given without HOIST_REDIS_PASSWORD_*) is used as given, and the bench says so.
 */
export function serviceRedisUrls(url: string, users: RedisUsers | undefined): Record<ServiceUser, string> {
  if (!users) {
    console.error("bench: this Redis has no Hoist ACL users (HOIST_REDIS_PASSWORD_* unset): services connect as REDIS_URL's user");
    return Object.fromEntries(SERVICE_USERS.map((s) => [s, url])) as Record<ServiceUser, string>;
  }
  return Object.fromEntries(SERVICE_USERS.map((s) => [s, serviceRedisUrl(url, s, users[s])])) as Record<ServiceUser, string>;
}
