import { lstat, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import type { App, Build, Image, SecretBox } from "@hoist/shared";
import { secretContexts, timeStage, withSpan } from "@hoist/shared";
import type Docker from "dockerode";
import { type BuildBox, openBuildBox } from "../adapters/build-box.js";
import { contextTar } from "../adapters/context-tar.js";
import { buildImage, engineUnreachable, isEngineUnreachable, pushImage } from "../adapters/docker.js";
import { fetchCommit } from "../adapters/git.js";
import { type ImageTriggers, imageTriggers } from "../adapters/image-triggers.js";
import type { PushTarget } from "../adapters/registry.js";
import { createWorkspace, realPathInside } from "../adapters/workspace.js";
import { type BuildCaps, defaultBuildCaps, formatLimit, resolveBuildLimits } from "../domain/build-limits.js";
import { ComposeError, composeFileNames, parseCompose, rootDockerfileService, type ServiceBuild, tagFor } from "../domain/compose.js";
import { parseDockerignore } from "../domain/dockerignore.js";
import { BuildFailure, oneLine } from "../domain/failure.js";
import {
  baseImagesOf,
  type ImageSourcePolicy,
  imageSourcePolicy,
  imageSourceViolations,
  isOnRegistry,
  onbuildViolations,
} from "../domain/image-sources.js";
import { parseDotenv } from "../domain/interpolate.js";

export interface PipelineDeps {
  docker: Docker;
  secrets: SecretBox;
  workDir: string;
  /** Resolved per build, after the sources are known good (ECR tokens are short-lived). */
  pushTarget: (app: string) => Promise<PushTarget>;
  /** Called once after a trust-on-first-use fetch with the host keys to pin. */
  pinHostKeys: (hostKeys: string[]) => Promise<void>;
  log: (step: string, line: string) => void;
  /** Throws when the build must not go on (canceled meanwhile). */
  checkpoint: () => Promise<void>;
  /** HOIST_LOCAL_REPOS: apps may build from a repository on this machine. */
  localRepos?: boolean;
  /** Registers a secret the log must never show (the registry password, once known). */
  redact?: (secret: string) => void;
  /** HOIST_BUILD_*: every build's limits (defaults when unset). */
  buildCaps?: BuildCaps;
  /** HOIST_REGISTRY_BASE_REPOS: the registry's repositories every app's Dockerfile may name. */
  baseRepos?: string[];
  /** The names of this Hoist's apps (a short image name may resolve to another app's local image). */
  appNames?: () => Promise<string[]>;
  /** Reads base images' ONBUILD triggers (one per process: it remembers each image's); a fresh one per build when unset. */
  imageTriggers?: ImageTriggers;
}

interface ResolvedService extends ServiceBuild {
  contextDir: string;
  dockerfileText: string;
  /** Set when the Dockerfile lies outside its context (but inside the repository): it is added to the context tar under this name, as the Docker CLI does. */
  dockerfileInTar?: string;
}

/** Whether `path` exists, itself (a symlink is not followed). */
async function present(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ENOTDIR") return false;
      throw err;
    },
  );
}

/**
 * A repository file's text (undefined when absent), read only once it is proven inside the
 * repository: a symlink out of it may name anything on the builder's host, a FIFO that blocks
 * the read for ever or /dev/zero that never ends.
 */
async function readInside(repoDir: string, rel: string, what: string): Promise<string | undefined> {
  if (!(await present(join(repoDir, rel)))) return undefined;
  return readFile(await realPathInside(repoDir, rel, what), "utf8");
}

/** The repository's `.env` (compose's interpolation variables); none when absent. */
async function dotenvOf(repoDir: string): Promise<Record<string, string>> {
  const text = await readInside(repoDir, ".env", ".env");
  return text === undefined ? {} : parseDotenv(text);
}

/** Finds the compose file (or a root Dockerfile) and proves every context and Dockerfile stays in the repository. */
export async function resolveServices(repoDir: string): Promise<{ file: string; services: ResolvedService[] }> {
  let file: string | undefined;
  let services: ServiceBuild[] | undefined;
  for (const name of composeFileNames) {
    // A compose file that is a symlink out of the repository is refused like any other escape.
    const text = await readInside(repoDir, name, "compose file");
    if (text === undefined) continue;
    file = name;
    services = parseCompose(text, name, await dotenvOf(repoDir));
    break;
  }
  if (!services) {
    file = "Dockerfile";
    services = [rootDockerfileService];
  }
  const out: ResolvedService[] = [];
  for (const svc of services) {
    const contextDir = await realPathInside(repoDir, svc.context, "context");
    const dockerfilePath = await realPathInside(repoDir, join(svc.context, svc.dockerfile), "dockerfile").catch((err) => {
      if (err instanceof ComposeError && /does not exist/.test(err.message) && file === "Dockerfile") {
        throw new ComposeError("no docker-compose.yml, compose.yaml or Dockerfile at the repository root; nothing to build");
      }
      throw err;
    });
    // The context's .dockerignore is read when the context is sent: it too must stay inside.
    const ignoreFile = join(svc.context, ".dockerignore");
    if (await present(join(repoDir, ignoreFile))) {
      // Parsed here too, so a pattern Docker refuses (or one over the caps) fails the build at once, naming the file.
      parseDockerignore(await readFile(await realPathInside(repoDir, ignoreFile, "ignore file"), "utf8"), ignoreFile);
    }
    const inContext = relative(contextDir, dockerfilePath);
    const outside = inContext === ".." || inContext.startsWith(`..${sep}`);
    out.push({
      ...svc,
      contextDir,
      dockerfileText: await readFile(dockerfilePath, "utf8"),
      ...(outside ? { dockerfileInTar: ".hoist.Dockerfile" } : {}),
    });
  }
  return { file: file as string, services: out };
}

class SiblingFailed extends Error {}

/**
 * Runs `fn` for every item at once. The first failure aborts the others and is the one thrown
 * (not the aborts it caused); results keep the items' order.
 */
async function allOrAbort<T, R>(signal: AbortSignal, items: T[], fn: (item: T, signal: AbortSignal) => Promise<R>): Promise<R[]> {
  const local = new AbortController();
  const sig = AbortSignal.any([signal, local.signal]);
  let first: unknown;
  const results = await Promise.allSettled(
    items.map((item) =>
      fn(item, sig).catch((err) => {
        if (first === undefined && !(local.signal.aborted && err instanceof SiblingFailed)) {
          first = err;
          if (!signal.aborted) local.abort(new SiblingFailed("another service failed"));
        }
        throw err;
      }),
    ),
  );
  if (first !== undefined) throw signal.aborted ? signal.reason : first;
  return results.map((r) => (r as PromiseFulfilledResult<R>).value);
}

/**
 * The ONBUILD triggers of every image a stage starts FROM run in this build as if the Dockerfile
 * said them: each is read (the image pulled with the app's credentials when the engine lacks it,
 * as the build would pull it) and checked like the Dockerfile's own instructions.
 */
async function checkBaseTriggers(
  deps: PipelineDeps,
  services: ResolvedService[],
  policy: ImageSourcePolicy,
  target: PushTarget,
  signal: AbortSignal,
): Promise<void> {
  const started = performance.now();
  const reader = deps.imageTriggers ?? imageTriggers(deps.docker);
  const read = new Map<string, Promise<string[]>>();
  let pulls = 0;
  for (const svc of services) {
    for (const base of baseImagesOf(svc.dockerfileText, svc.args)) {
      const step = `build ${svc.service}`;
      let triggers = read.get(base.ref);
      if (!triggers) {
        const auth = target.buildAuth && isOnRegistry(base.ref, policy.registryHost) ? target.buildAuth : undefined;
        triggers = reader
          .read(base.ref, { ...(auth ? { auth } : {}), signal, log: (l) => deps.log(step, l) })
          .then((r) => {
            if (r.pulled) pulls++;
            return r.triggers;
          })
          .catch((err: unknown) => {
            if (err instanceof BuildFailure) {
              throw new BuildFailure(`${step}: ${svc.dockerfile}:${base.line} ${base.instruction}: ${err.message}`, err.permanent);
            }
            throw err;
          });
        read.set(base.ref, triggers);
      }
      const [refused] = onbuildViolations(svc.dockerfileText, base, await triggers, policy);
      if (refused) throw new BuildFailure(`${step}: ${svc.dockerfile}:${refused.line} ${refused.instruction}: ${refused.reason}`, true);
    }
  }
  const ms = Math.round(performance.now() - started);
  deps.log("sources", `checked the ONBUILD triggers of ${read.size} base image(s) in ${ms} ms${pulls ? ` (${pulls} pulled)` : ""}`);
}

/** Clone, read compose, build and push: the images of one build. Cleans its temp dir in every case. */
export async function runPipeline(app: App, build: Build, deps: PipelineDeps, signal: AbortSignal): Promise<Image[]> {
  const ids = { "hoist.app": app.name, "hoist.build_id": build.id };
  // Each step is a span of the push's trace (the build job's span is active here) and a stage metric.
  const step = <T>(name: string, stage: string, extra: Record<string, string>, fn: () => Promise<T>) =>
    withSpan(name, { attributes: { ...ids, ...extra } }, () => timeStage(stage, fn));
  const ws = await createWorkspace(deps.workDir, build.id);
  const { limits, notes } = resolveBuildLimits(app.build, deps.buildCaps ?? defaultBuildCaps);
  // Made while the clone runs; removed (ending any step still running) whatever happens.
  const boxing = openBuildBox(deps.docker, {
    name: `hoist-build-${build.id}`,
    pids: limits.pids,
    labels: { "hoist.app": app.name, "hoist.build_id": build.id },
  }).catch((err: unknown): never => {
    if (isEngineUnreachable(err)) throw engineUnreachable(deps.docker, err);
    throw new BuildFailure(
      `build: could not prepare the build's box on the engine: ${oneLine((err as Error).message ?? String(err))}`,
      false,
    );
  });
  boxing.catch(() => undefined);
  let closing: Promise<void> | undefined;
  const close = (box: BuildBox) => {
    // Removed once more after a moment: podman refuses while a killed step's cgroup is still going.
    closing ??= box
      .remove()
      .catch(() => new Promise((r) => setTimeout(r, 1000)).then(() => box.remove()))
      .catch((err: Error) => deps.log("limits", `the build's box was not removed: ${oneLine(err.message)}`));
    return closing;
  };
  try {
    // A local repository (HOIST_LOCAL_REPOS) has no deploy key; fetchCommit refuses an SSH URL without one.
    const privateKey = app.deployKey
      ? (await deps.secrets.open(app.deployKey.privateKey, secretContexts.deployKey(app.name))).toString("utf8")
      : undefined;
    if (privateKey) deps.redact?.(privateKey);
    const { hostKeys } = await step("clone", "clone", { "hoist.sha": build.sha }, () =>
      fetchCommit({
        secretDir: ws.secretDir,
        repoDir: ws.repoDir,
        sshUrl: app.repo.sshUrl,
        sha: build.sha,
        privateKey,
        hostKeys: app.hostKeys,
        allowLocal: deps.localRepos ?? false,
        signal,
        log: (l) => deps.log("clone", l),
      }),
    );
    if (!app.hostKeys?.length && hostKeys.length) {
      deps.log("clone", `pinned the git host's key (first use): ${hostKeys.map((k) => k.split(" ").slice(0, 2).join(" ")).join(", ")}`);
      await deps.pinHostKeys(hostKeys);
    }

    let resolved: Awaited<ReturnType<typeof resolveServices>>;
    try {
      resolved = await resolveServices(ws.repoDir);
    } catch (err) {
      if (err instanceof ComposeError) throw new BuildFailure(`compose: ${err.message}`, true);
      throw err;
    }
    deps.log("compose", `${resolved.file}: building ${resolved.services.map((s) => s.service).join(", ")}`);
    for (const note of notes) deps.log("limits", note);
    deps.log(
      "limits",
      `network ${limits.network}, ${limits.memoryMb} MB memory, ${limits.cpus} cpus, ${limits.pids} processes, ${formatLimit(limits.timeoutSec)} per image`,
    );
    const box = await boxing;

    const target = await deps.pushTarget(app.name);
    if (target.auth) deps.redact?.(target.auth.password);
    const repo = `${target.prefix}/${app.name}`;
    // The engine is shared: another app's image tagged in its store would be used without the
    // registry's say. Every service's Dockerfile is checked before any image is built.
    const policy = imageSourcePolicy(target.prefix, app.name, deps.baseRepos ?? [], (await deps.appNames?.()) ?? []);
    for (const svc of resolved.services) {
      const [refused] = imageSourceViolations(svc.dockerfileText, svc.args, policy);
      if (refused) {
        throw new BuildFailure(`build ${svc.service}: ${svc.dockerfile}:${refused.line} ${refused.instruction}: ${refused.reason}`, true);
      }
    }
    await checkBaseTriggers(deps, resolved.services, policy, target, signal);
    // Services build side by side (the engine overlaps one's context upload with another's
    // steps); the first failure stops the others. Pushes start once every image built, so a
    // failed or canceled build pushes nothing.
    await deps.checkpoint();
    const built = await allOrAbort(signal, resolved.services, async (svc, sig) => {
      const tag = tagFor(svc.service, build.number);
      deps.log(`build ${svc.service}`, `building ${repo}:${tag} from ${svc.context}/${svc.dockerfile}`);
      await step(`build ${svc.service}`, "build", { "hoist.service": svc.service }, () =>
        buildImage(deps.docker, {
          service: svc.service,
          tag: `${repo}:${tag}`,
          context: contextTar(
            svc.contextDir,
            svc.dockerfileInTar ?? svc.dockerfile,
            svc.dockerfileInTar ? { name: svc.dockerfileInTar, content: svc.dockerfileText } : undefined,
          ),
          dockerfile: svc.dockerfileInTar ?? svc.dockerfile,
          dockerfileLabel: svc.dockerfile,
          dockerfileText: svc.dockerfileText,
          args: svc.args,
          ...(svc.target ? { target: svc.target } : {}),
          noCache: build.noCache ?? false,
          limits,
          box,
          ...(target.buildAuth ? { registryAuth: target.buildAuth } : {}),
          signal: sig,
          log: (l) => deps.log(`build ${svc.service}`, l),
        }),
      );
      return { service: svc.service, tag };
    });
    // The box goes while the images are pushed.
    void close(box);
    // Nothing is pushed for a build canceled while it was building.
    await deps.checkpoint();
    const images = await allOrAbort(signal, built, async (b, sig) => {
      const digest = await step(`push ${b.service}`, "push", { "hoist.service": b.service }, () =>
        pushImage(deps.docker, {
          service: b.service,
          repo,
          tag: b.tag,
          ...(target.auth ? { auth: target.auth } : {}),
          insecure: target.insecure,
          signal: sig,
          log: (l) => deps.log(`push ${b.service}`, l),
        }),
      );
      deps.log(`push ${b.service}`, `pushed ${repo}:${b.tag}${digest ? ` ${digest}` : ""}`);
      return { service: b.service, tag: `${repo}:${b.tag}`, ...(digest ? { digest } : {}) } satisfies Image;
    });
    return images;
  } finally {
    const box = await boxing.catch(() => undefined);
    if (box) await close(box);
    await ws.remove().catch(() => undefined);
  }
}
