import { z } from "zod";

/**
 * HOIST_REGISTRY_BASE_REPOS: comma-separated globs of the repositories every app's build may pull
 * (base images). The token service grants pull on them; the builder lets a Dockerfile name them.
 */
export const baseReposEnvSchema = z.object({
  HOIST_REGISTRY_BASE_REPOS: z
    .string()
    .regex(/^[a-z0-9._\-/*]+(,[a-z0-9._\-/*]+)*$/, "comma-separated repository globs, e.g. base/*,library/**")
    .optional()
    .transform((v) => (v ? v.split(",") : [])),
});

/** A repository glob as a RegExp: `*` stays within one path segment, `**` crosses them. */
function repoGlobToRegExp(glob: string): RegExp {
  const body = glob
    .split("**")
    .map((part) =>
      part
        .split("*")
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join("[^/]*"),
    )
    .join(".*");
  return new RegExp(`^${body}$`);
}

/** A matcher for repository names against the base globs (compiled once). */
export function baseRepoMatcher(globs: string[]): (repository: string) => boolean {
  const res = globs.map(repoGlobToRegExp);
  return (repository) => res.some((re) => re.test(repository));
}
