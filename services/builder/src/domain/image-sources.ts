import { appRepository, baseRepoMatcher, registryHost } from "@hoist/shared";
import { escapeOf, type Instruction, parseInstructions } from "./dockerfile.js";

/**
 * Which images a Dockerfile may start from or copy out of. The engine is shared by every app's
 * builds (and the deployer), so an image another app built is tagged in its local store, and a
 * `FROM` of that tag, of its id, or of a short name podman matches to it is used without asking
 * the registry whose token would have refused it. This check closes that before the build starts.
 */
export interface ImageSourcePolicy {
  /** `host[:port]` of Hoist's registry (HOIST_REGISTRY's host). */
  registryHost: string;
  /** The app's own repository on it (`<namespace>/<app>`). */
  ownRepository: string;
  /** HOIST_REGISTRY_BASE_REPOS, as written (for the message). */
  baseGlobs: string[];
  isBase: (repository: string) => boolean;
  /** The other apps on this Hoist: a short name ending in one of them may resolve to its local image. */
  otherApps: ReadonlySet<string>;
}

/** The policy of `app`'s builds on the registry named `host[:port][/namespace]` (its push target's prefix). */
export function imageSourcePolicy(registry: string, app: string, baseGlobs: string[], otherApps: Iterable<string> = []): ImageSourcePolicy {
  return {
    registryHost: registryHost(registry),
    ownRepository: appRepository(registry, app),
    baseGlobs,
    isBase: baseRepoMatcher(baseGlobs),
    otherApps: new Set([...otherApps].filter((a) => a !== app)),
  };
}

/** One refused image reference: the Dockerfile line, the instruction as Docker reads it, and why. */
interface ImageSourceViolation {
  line: number;
  instruction: string;
  reason: string;
}

/** One image reference a Dockerfile makes, after substitution (undefined `ref`: it did not resolve). */
interface Source {
  line: number;
  /** `FROM <ref>`, `COPY --from=<ref>`, `RUN --mount=from=<ref>` (ONBUILD before them when so). */
  instruction: string;
  ref?: string;
  /** Names that are stages here, not images. */
  stages: Set<string>;
  /** COPY --from / --mount from= also take a stage's index. */
  indexOk: boolean;
  /** A stage's FROM (whose image's ONBUILD triggers run in the build). */
  from?: true;
}

/** Splits an instruction's arguments at unquoted whitespace, keeping quotes (word processing removes them). */
function words(text: string, esc: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: string | undefined;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === esc && quote !== "'" && i + 1 < text.length) {
      cur += c + (text[i + 1] as string);
      i++;
      started = true;
      continue;
    }
    if (quote) {
      if (c === quote) quote = undefined;
      cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      cur += c;
      started = true;
      continue;
    }
    if (/\s/.test(c)) {
      if (started) out.push(cur);
      cur = "";
      started = false;
      continue;
    }
    cur += c;
    started = true;
  }
  if (started) out.push(cur);
  return out;
}

/**
 * A word as Docker's shell-word processing makes it: quotes removed, escapes applied, `$NAME`,
 * `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}` and `${NAME+word}` replaced from
 * `vars`. Undefined when a variable is unset (Docker would make it empty, silently), another
 * form is used, or a quote is left open: what the engine would read is then not certain.
 */
export function processWord(word: string, vars: ReadonlyMap<string, string>, esc = "\\"): string | undefined {
  let out = "";
  let quote: string | undefined;
  let i = 0;
  const variable = (): string | undefined => {
    // At a `$`: returns its value, advancing i past it.
    const rest = word.slice(i + 1);
    const plain = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (plain) {
      i += 1 + plain[0].length;
      return vars.get(plain[0]);
    }
    const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}/.exec(rest);
    if (!braced) return undefined;
    i += 1 + braced[0].length;
    const [, name, op, alt] = braced as unknown as [string, string, string | undefined, string | undefined];
    const value = vars.get(name);
    if (!op) return value;
    const inner = processWord(alt ?? "", vars, esc);
    if (inner === undefined) return undefined;
    const present = op.startsWith(":") ? value !== undefined && value !== "" : value !== undefined;
    return op.endsWith("-") ? (present ? value : inner) : present ? inner : "";
  };
  while (i < word.length) {
    const c = word[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else out += c;
      i++;
    } else if (c === esc && i + 1 < word.length) {
      out += word[i + 1];
      i += 2;
    } else if (c === '"' || (c === "'" && !quote)) {
      quote = quote === c ? undefined : c;
      i++;
    } else if (c === "$") {
      const value = variable();
      if (value === undefined) return undefined;
      out += value;
    } else {
      out += c;
      i++;
    }
  }
  return quote ? undefined : out;
}

/** `ARG a=1 b` (values processed with the args before them): the names declared and their values. */
function declareArgs(ins: Instruction, esc: string, vars: Map<string, string | undefined>, buildArgs: Record<string, string>): void {
  for (const w of words(ins.text, esc).slice(1)) {
    const eq = w.indexOf("=");
    const name = eq < 0 ? w : w.slice(0, eq);
    const known = new Map([...vars].filter((e): e is [string, string] => e[1] !== undefined));
    const fallback = eq < 0 ? undefined : processWord(w.slice(eq + 1), known, esc);
    vars.set(name, Object.hasOwn(buildArgs, name) ? buildArgs[name] : fallback);
  }
}

/** Splits `--name=value` flags off the front of an instruction's words. */
function flagsOf(ws: string[]): { flags: [string, string][]; rest: string[] } {
  const flags: [string, string][] = [];
  let i = 0;
  for (; i < ws.length && (ws[i] as string).startsWith("--"); i++) {
    const w = ws[i] as string;
    const eq = w.indexOf("=");
    flags.push(eq < 0 ? [w.slice(2).toLowerCase(), ""] : [w.slice(2, eq).toLowerCase(), w.slice(eq + 1)]);
  }
  return { flags, rest: ws.slice(i) };
}

/** Every image reference a Dockerfile makes, with the values Docker would use. */
function sourcesOf(text: string, buildArgs: Record<string, string>): Source[] {
  const instructions = parseInstructions(text);
  // Stage names first: COPY --from may name any stage of the file.
  const { stages: allStages, esc } = stagesOf(text);
  const heading = new Map<string, string | undefined>();
  const previous = new Set<string>();
  const out: Source[] = [];
  let seenFrom = false;
  const known = () => new Map([...heading].filter((e): e is [string, string] => e[1] !== undefined));
  for (const ins of instructions) {
    if (ins.keyword === "ARG" && !seenFrom) declareArgs(ins, esc, heading, buildArgs);
    else if (ins.keyword === "FROM") {
      seenFrom = true;
      const { rest } = flagsOf(words(ins.text, esc).slice(1));
      const written = rest[0] ?? "";
      const ref = processWord(written, known(), esc);
      out.push({
        line: ins.line,
        instruction: ref === undefined || ref === written ? `FROM ${written}` : `FROM ${written} (${ref})`,
        ...withRef(ref),
        stages: new Set(previous),
        indexOk: false,
        from: true,
      });
      if (rest.length >= 3 && (rest[1] as string).toLowerCase() === "as") previous.add((rest[2] as string).toLowerCase());
    } else if (ins.keyword === "COPY" || ins.keyword === "RUN") out.push(...copySources(ins.line, ins.text, esc, allStages, ""));
    // A trigger runs in the builds of images made FROM this one: checked now, for this app.
    else if (ins.keyword === "ONBUILD") out.push(...copySources(ins.line, ins.text.replace(/^\S+\s+/, ""), esc, allStages, "ONBUILD "));
  }
  return out;
}

/** The stage names of a Dockerfile (`FROM ... AS <name>`, lowercased) and its escape character. */
function stagesOf(text: string): { stages: Set<string>; esc: string } {
  const esc = escapeOf(text.split(/\r?\n/));
  const stages = new Set<string>();
  for (const ins of parseInstructions(text)) {
    if (ins.keyword !== "FROM") continue;
    const { rest } = flagsOf(words(ins.text, esc).slice(1));
    if (rest.length >= 3 && (rest[1] as string).toLowerCase() === "as") stages.add((rest[2] as string).toLowerCase());
  }
  return { stages, esc };
}

/**
 * The images a `COPY --from` or `RUN --mount=from=` instruction (`body`, keyword first) reads;
 * `label` goes before the instruction in the reason (`ONBUILD `, or a trigger's origin).
 */
function copySources(line: number, body: string, esc: string, stages: Set<string>, label: string): Source[] {
  const out: Source[] = [];
  const keyword = (body.trim().split(/\s+/)[0] ?? "").toUpperCase();
  const { flags } = flagsOf(words(body.trim(), esc).slice(1));
  for (const [name, value] of flags) {
    if (keyword === "COPY" && name === "from") {
      out.push({
        line,
        instruction: `${label}COPY --from=${value}`,
        ...withRef(processWord(value, new Map(), esc)),
        stages,
        indexOk: true,
      });
    }
    if (keyword === "RUN" && name === "mount") {
      // Quotes go first (the value is one word), then its `key=value` fields.
      const fields = processWord(value, new Map(), esc);
      if (fields === undefined) {
        if (/from/i.test(value)) out.push({ line, instruction: `${label}RUN --mount=${value}`, stages, indexOk: true });
        continue;
      }
      for (const field of fields.split(",")) {
        const eq = field.indexOf("=");
        if (eq < 0 || field.slice(0, eq).trim().toLowerCase() !== "from") continue;
        const from = field.slice(eq + 1).trim();
        out.push({ line, instruction: `${label}RUN --mount=from=${from}`, ref: from, stages, indexOk: true });
      }
    }
  }
  return out;
}

function withRef(ref: string | undefined): { ref?: string } {
  return ref === undefined ? {} : { ref };
}

const dockerHubHosts = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
const loopbackHost = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

/** One host name for the aliases that reach the same registry (Docker Hub's, and loopback's for the same port). */
function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => {
    const lower = h.toLowerCase();
    if (dockerHubHosts.has(lower)) return "docker.io";
    const m = loopbackHost.exec(lower);
    return m ? `loopback${m[2] ?? ""}` : lower;
  };
  return norm(a) === norm(b);
}

/** `[domain/]path[:tag][@digest]`, split as the distribution reference grammar does (no domain: Docker Hub). */
function splitReference(ref: string): { domain?: string; path: string; tag?: string; digest?: string } {
  const at = ref.indexOf("@");
  const digest = at < 0 ? undefined : ref.slice(at + 1);
  const named = at < 0 ? ref : ref.slice(0, at);
  const slash = named.indexOf("/");
  const first = slash < 0 ? "" : named.slice(0, slash);
  const hasDomain = slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  const rest = hasDomain ? named.slice(slash + 1) : named;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.indexOf(":", lastSlash + 1);
  return {
    ...(hasDomain ? { domain: first } : {}),
    path: colon < 0 ? rest : rest.slice(0, colon),
    ...(colon < 0 ? {} : { tag: rest.slice(colon + 1) }),
    ...(digest ? { digest } : {}),
  };
}

/** Why `src` is refused under `policy`, or undefined when it is allowed. */
function refusal(src: Source, policy: ImageSourcePolicy): string | undefined {
  const ref = src.ref;
  if (ref === undefined) {
    return "the image name uses a variable Hoist cannot resolve before the build (an ARG with no value before the first FROM, a build-time platform variable, or any variable in --from); name the image, or give the ARG a default or a build arg";
  }
  if (ref.includes("$")) return "the image name still holds a `$` after substitution; name the image";
  if (ref === "") return "the image name is empty";
  if (src.stages.has(ref.toLowerCase()) || (src.indexOk && /^\d+$/.test(ref))) return undefined;
  const allowedHere = `a build may use its own repository (${policy.ownRepository}) and base images (${policy.baseGlobs.join(", ") || "none: HOIST_REGISTRY_BASE_REPOS is unset"}) from this registry`;
  if (/^sha256:[0-9a-f]*$/i.test(ref) || /^[0-9a-f]+$/.test(ref)) {
    return "an image id names whatever image the engine holds, another app's included; name the image by repository";
  }
  const { domain, path, tag, digest } = splitReference(ref);
  const onRegistry = (repo: string) => {
    if (repo === policy.ownRepository || policy.isBase(repo)) return undefined;
    return `another app's image; ${allowedHere}`;
  };
  if (domain !== undefined) return sameHost(domain, policy.registryHost) ? onRegistry(path) : undefined;
  // No domain: Docker Hub, unless Hoist's registry is Docker Hub itself.
  if (sameHost("docker.io", policy.registryHost)) return onRegistry(path.includes("/") ? path : `library/${path}`);
  if (path.startsWith("library/")) return undefined;
  // Podman resolves a short name to any local image whose repository ends with it
  // (`shop:web.3` finds `<registry>/<namespace>/shop:web.3`): refused when it names another app
  // of this Hoist (any tag or digest), so `node:20` stays usable unless an app is called `node`.
  const parts = path.split("/");
  const ownParts = policy.ownRepository.split("/");
  const namespace = ownParts.slice(0, -1);
  const prefix = parts.slice(0, -1);
  const last = parts[parts.length - 1] ?? "";
  const couldBeApp = prefix.length <= namespace.length && prefix.every((p, i) => p === namespace[namespace.length - prefix.length + i]);
  if (!couldBeApp || !policy.otherApps.has(last)) return undefined;
  return `a short name that podman may resolve to app ${last}'s image in the engine's local store (${policy.registryHost}/${[...namespace, last].join("/")}); write the full name (e.g. docker.io/library/${parts.join("/")}${digest ? `@${digest}` : tag ? `:${tag}` : ""}); ${allowedHere}`;
}

/**
 * The image references of a Dockerfile that this app's build may not use, in file order: each
 * `FROM`, `COPY --from` and `RUN --mount=from=` (ONBUILD ones too) after Docker's substitution of
 * the ARGs before the first FROM and the service's build args.
 */
export function imageSourceViolations(text: string, buildArgs: Record<string, string>, policy: ImageSourcePolicy): ImageSourceViolation[] {
  const out: ImageSourceViolation[] = [];
  for (const src of sourcesOf(text, buildArgs)) {
    const reason = refusal(src, policy);
    if (reason) out.push({ line: src.line, instruction: src.instruction, reason });
  }
  return out;
}

/** An image a stage of the Dockerfile starts from: its ONBUILD triggers run in this build. */
interface BaseImage {
  line: number;
  /** `FROM <ref>` as written (and substituted). */
  instruction: string;
  ref: string;
}

/**
 * The images the Dockerfile's stages start from (not earlier stages, not `scratch`), after
 * substitution, in file order, each once. Call after `imageSourceViolations` found nothing.
 */
export function baseImagesOf(text: string, buildArgs: Record<string, string>): BaseImage[] {
  const out: BaseImage[] = [];
  const seen = new Set<string>();
  for (const src of sourcesOf(text, buildArgs)) {
    const ref = src.ref;
    if (!src.from || ref === undefined || src.stages.has(ref.toLowerCase()) || ref.toLowerCase() === "scratch" || seen.has(ref)) continue;
    seen.add(ref);
    out.push({ line: src.line, instruction: src.instruction, ref });
  }
  return out;
}

/** Whether `ref` names an image on the registry `host[:port]` (its credentials may go with a pull of it, and only then). */
export function isOnRegistry(ref: string, registryHost: string): boolean {
  const { domain } = splitReference(ref);
  return domain === undefined ? sameHost("docker.io", registryHost) : sameHost(domain, registryHost);
}

/** Instructions Docker does not allow as a trigger; refused here too. */
const forbiddenTriggers = new Set(["ONBUILD", "FROM", "MAINTAINER"]);

/** A trigger as the reason shows it: one line, at most 200 characters. */
function shown(trigger: string): string {
  const flat = trigger.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/**
 * The ONBUILD triggers (`Config.OnBuild` of the image `base` names) that this app's build may
 * not run. A base image's triggers run in the build that starts FROM it, as if the Dockerfile
 * said them there: each `COPY --from` and `RUN --mount=from=` of them goes through the same
 * rules as the Dockerfile's own (stages named are the Dockerfile's).
 */
export function onbuildViolations(
  text: string,
  base: BaseImage,
  triggers: readonly string[],
  policy: ImageSourcePolicy,
): ImageSourceViolation[] {
  const { stages, esc } = stagesOf(text);
  const out: ImageSourceViolation[] = [];
  for (const trigger of triggers) {
    const keyword = (trigger.trim().split(/\s+/)[0] ?? "").toUpperCase();
    const what = `the image's ONBUILD trigger \`${shown(trigger)}\` runs in this build`;
    if (forbiddenTriggers.has(keyword)) {
      out.push({ line: base.line, instruction: base.instruction, reason: `${what}, and Docker allows no ${keyword} trigger` });
      continue;
    }
    if (keyword !== "COPY" && keyword !== "RUN") continue;
    for (const src of copySources(base.line, trigger, esc, stages, "")) {
      const reason = refusal(src, policy);
      if (reason) out.push({ line: base.line, instruction: base.instruction, reason: `${what}: ${src.instruction}: ${reason}` });
    }
  }
  return out;
}
