import { z } from "zod";

/** The roles, lowest first: each includes everything the ones before it may do. */
export const roles = ["viewer", "deployer", "maintainer", "admin"] as const;
export const roleSchema = z.enum(roles, { error: `one of ${roles.join(", ")}` });
export type Role = z.infer<typeof roleSchema>;

export function atLeast(have: Role | undefined, need: Role): boolean {
  return have !== undefined && roles.indexOf(have) >= roles.indexOf(need);
}

export function higher(a: Role | undefined, b: Role | undefined): Role | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return roles.indexOf(a) >= roles.indexOf(b) ? a : b;
}

export function lower(a: Role | undefined, b: Role | undefined): Role | undefined {
  if (a === undefined || b === undefined) return undefined;
  return roles.indexOf(a) <= roles.indexOf(b) ? a : b;
}

/** The role just below `role` (undefined below viewer): what the route-table test tries first. */
export function below(role: Role): Role | undefined {
  return roles[roles.indexOf(role) - 1];
}

/**
 * GitLab's project access levels (https://docs.gitlab.com/api/members/#roles) → Hoist's default
 * role on the linked app: Reporter → viewer, Developer → deployer, Maintainer and Owner → maintainer.
 * Guests and non-members get nothing.
 */
export function roleFromAccessLevel(level: number): Role | undefined {
  if (level >= 40) return "maintainer";
  if (level >= 30) return "deployer";
  if (level >= 20) return "viewer";
  return undefined;
}

/** Who is asking: the bootstrap token, an API token, or a GitLab user signed in to the dashboard. */
export type Principal =
  | { kind: "bootstrap"; name: "bootstrap" }
  | { kind: "token"; id: string; name: string; role: Role; apps?: string[]; owner?: string }
  | { kind: "user"; id: string; name: string };
