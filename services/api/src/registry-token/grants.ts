import { appNameSchema, appRepository, baseRepoMatcher, REGISTRY_ADMIN_USER, REGISTRY_DEPLOYER_USER } from "@hoist/shared";

/** One `access` entry of a registry token (the Docker registry token spec). */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export interface GrantPolicy {
  /** HOIST_REGISTRY: its namespace decides the apps' repository names. */
  registry: string;
  /** Globs of repositories every app may pull (base images): `*` within one path segment, `**` across them. */
  baseRepos: string[];
}

/** Parses `repository:<name>:<actions>` scopes (several per request; a name may hold `:` only in a tag-less form, so the last `:` splits). */
export function parseScopes(scopes: string[]): Access[] {
  const out: Access[] = [];
  for (const scope of scopes) {
    for (const one of scope.split(" ").filter(Boolean)) {
      const first = one.indexOf(":");
      const last = one.lastIndexOf(":");
      if (first < 1 || last === first) continue;
      const actions = one
        .slice(last + 1)
        .split(",")
        .filter(Boolean);
      out.push({ type: one.slice(0, first), name: one.slice(first + 1, last), actions });
    }
  }
  return out;
}

/** What `user` may do on one resource: the spec's answer to a scope outside the grant is fewer actions, not an error. */
function allowed(user: string, resource: Access, policy: GrantPolicy, isBase: (repository: string) => boolean): string[] {
  if (user === REGISTRY_ADMIN_USER) {
    if (resource.type === "registry" && resource.name === "catalog") return ["*"];
    return resource.type === "repository" ? ["pull", "push", "delete"] : [];
  }
  if (resource.type !== "repository") return [];
  // The deployer removes a preview's tags on its teardown: delete on apps' repositories, never on base images.
  if (user === REGISTRY_DEPLOYER_USER)
    return isAppRepository(resource.name, policy.registry) && !isBase(resource.name) ? ["pull", "delete"] : ["pull"];
  if (user.startsWith("app-") && resource.name === appRepository(policy.registry, user.slice("app-".length))) return ["pull", "push"];
  if (user.startsWith("app-") && isBase(resource.name)) return ["pull"];
  return [];
}

/** `<namespace>/<app>` (or `<app>` without a namespace): a repository the builder names for some app. */
function isAppRepository(name: string, registry: string): boolean {
  const app = appRepository(registry, "app");
  const namespace = app.slice(0, app.length - "app".length);
  return name.startsWith(namespace) && appNameSchema.safeParse(name.slice(namespace.length)).success;
}

/** The token's `access` claim: each requested resource with the requested actions the user holds (possibly none). */
export function grant(user: string | undefined, requested: Access[], policy: GrantPolicy): Access[] {
  const isBase = baseRepoMatcher(policy.baseRepos);
  return requested.map((r) => {
    const may = user === undefined ? [] : allowed(user, r, policy, isBase);
    return { ...r, actions: r.actions.filter((a) => may.includes(a) || may.includes("*")) };
  });
}
