import { posix } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ComposeError } from "./compose-error.js";
import { interpolateDeep } from "./interpolate.js";

/** A service the builder builds: paths are repository-relative, POSIX, and proven not to leave it. */
export interface ServiceBuild {
  service: string;
  /** Context directory relative to the repository root ("." for the root). */
  context: string;
  /** Dockerfile path relative to the context. */
  dockerfile: string;
  args: Record<string, string>;
  target?: string;
}

export { ComposeError } from "./compose-error.js";

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const buildSpecSchema = z.union([
  z.string().min(1, "build: is an empty path"),
  z
    .object({
      context: z.string().min(1).optional(),
      dockerfile: z.string().min(1).optional(),
      // Compose allows a map or a list of KEY=VALUE; a key with no value means "from the environment",
      // which a build server has no business passing on, so it is dropped.
      args: z.union([z.record(z.string(), scalar.nullable()), z.array(z.string())]).optional(),
      target: z.string().min(1).optional(),
    })
    .loose(),
]);

const composeSchema = z
  .object({
    services: z.record(
      z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "service names are letters, digits, '.', '_' and '-'"),
      z.object({ build: buildSpecSchema.optional() }).loose().nullable(),
    ),
  })
  .loose();

/** The compose file names looked for at the repository root, in order. */
export const composeFileNames = ["docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml"] as const;

/**
 * Resolves `rel` against the POSIX directory `base` (both repository-relative) and refuses a
 * result outside the repository. Symlinks are checked separately, on disk (see workspace paths).
 */
export function insideRepo(base: string, rel: string, what: string): string {
  if (posix.isAbsolute(rel)) throw new ComposeError(`${what} ${rel} leaves the repository (absolute path)`);
  const joined = posix.normalize(posix.join(base, rel));
  if (joined === ".." || joined.startsWith("../")) throw new ComposeError(`${what} ${rel} leaves the repository`);
  return joined === "" ? "." : joined.replace(/\/$/, "") || ".";
}

function argsOf(args: Record<string, string | null> | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!args) return out;
  if (Array.isArray(args)) {
    for (const item of args) {
      const eq = item.indexOf("=");
      if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return out;
  }
  for (const [k, v] of Object.entries(args)) if (v !== null) out[k] = v;
  return out;
}

/**
 * Parses a compose file's text into the services to build, in file order, with `${VAR}`s
 * filled from `vars` (the repository's `.env`). Services without
 * `build:` (databases, images from elsewhere) are not built. Throws ComposeError saying what is wrong.
 */
export function parseCompose(text: string, fileName = "docker-compose.yml", vars: Record<string, string> = {}): ServiceBuild[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new ComposeError(`${fileName} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const parsed = composeSchema.safeParse(interpolateDeep(doc, vars));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // A bad service name (a record key) has its own message one level down ("Invalid key in record" above it).
    const message = issue?.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue?.message;
    throw new ComposeError(`${fileName}: ${issue?.path.join(".") || "(top level)"}: ${message ?? "invalid"}`);
  }
  const out: ServiceBuild[] = [];
  for (const [service, def] of Object.entries(parsed.data.services)) {
    const build = def?.build;
    if (build === undefined) continue;
    const spec = typeof build === "string" ? { context: build } : build;
    const context = insideRepo(".", spec.context ?? ".", "context");
    const dockerfile = spec.dockerfile ?? "Dockerfile";
    // The Dockerfile is named relative to the context; it too must stay inside the repository.
    insideRepo(context, dockerfile, "dockerfile");
    out.push({
      service,
      context,
      dockerfile: posix.normalize(dockerfile),
      args: argsOf(spec.args as Record<string, string | null> | string[] | undefined),
      ...(spec.target ? { target: spec.target } : {}),
    });
  }
  if (out.length === 0) throw new ComposeError(`${fileName} has no service with a build: section; nothing to build`);
  return out;
}

/** Without a compose file a root Dockerfile is one service named `web`. */
export const rootDockerfileService: ServiceBuild = { service: "web", context: ".", dockerfile: "Dockerfile", args: {} };

/** Image tags allow [A-Za-z0-9_.-], up to 128 characters, not starting with '.' or '-'. */
export function tagFor(service: string, buildNumber: number): string {
  const safe = service.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[.-]+/, "_");
  const suffix = `.${buildNumber}`;
  return `${safe.slice(0, 128 - suffix.length)}${suffix}`;
}
