import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { dockerEndpoint } from "@hoist/shared";
import Docker from "dockerode";
import { type BuildLimits, confinementParams, formatLimit } from "../domain/build-limits.js";
import { lineOfStep, parseInstructions } from "../domain/dockerfile.js";
import { BuildFailure, dockerBuildReason, limitReason, oneLine } from "../domain/failure.js";
import type { BuildBox } from "./build-box.js";

export function dockerClient(dockerHost: string | undefined): Docker {
  // Unset DOCKER_HOST means the default socket, said out loud so reasons can name it.
  if (!dockerHost) return new Docker({ socketPath: "/var/run/docker.sock" });
  if (dockerHost.startsWith("unix://")) return new Docker({ socketPath: dockerHost.slice("unix://".length) });
  const url = new URL(dockerHost.replace(/^tcp:/, "http:"));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: url.protocol === "https:" ? "https" : "http" });
}

interface ProgressMessage {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string };
}

/**
 * Reads a Docker API progress stream (JSON messages, one or more per chunk) to its end, calling
 * `onMessage` for each. An abort destroys the stream, which ends the request to the engine.
 */
export async function consume(
  res: IncomingMessage | Readable,
  signal: AbortSignal,
  onMessage: (m: ProgressMessage) => void,
): Promise<void> {
  const stream = res as Readable;
  const abort = () => stream.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
  if (signal.aborted) abort();
  signal.addEventListener("abort", abort, { once: true });
  let buf = "";
  try {
    for await (const chunk of stream) {
      buf += (chunk as Buffer).toString("utf8");
      let nl = buf.indexOf("\n");
      while (nl !== -1) {
        const text = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (text) {
          try {
            onMessage(JSON.parse(text) as ProgressMessage);
          } catch {
            onMessage({ stream: text });
          }
        }
        nl = buf.indexOf("\n");
      }
    }
    if (buf.trim()) onMessage(JSON.parse(buf.trim()) as ProgressMessage);
  } finally {
    signal.removeEventListener("abort", abort);
  }
  if (signal.aborted) throw signal.reason;
}

/** Errors that mean the engine itself is not there (no socket, refused, connection dropped), not that it refused the work. */
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND"]);

export function isEngineUnreachable(err: unknown): boolean {
  const e = err as { code?: string; syscall?: string; message?: string; statusCode?: number } | undefined;
  if (!e || e.statusCode !== undefined) return false;
  // A missing or forbidden socket is ENOENT/EACCES on connect; the same codes on open are a context file's.
  if (e.syscall === "connect") return true;
  return (e.code !== undefined && UNREACHABLE_CODES.has(e.code)) || /socket hang up/.test(e.message ?? "");
}

/**
 * The failure for an engine that went away: retried like an unreachable registry or git host
 * (the engine may be restarting), and worded so the build record says which engine and why.
 */
export function engineUnreachable(docker: Docker, err: unknown): BuildFailure {
  return new BuildFailure(`docker unreachable at ${dockerEndpoint(docker)}: ${engineError(err)}`, false);
}

/** True when the engine stops answering (or takes over 2 s to) within about a second and a half (three pings, 500 ms apart). */
async function engineGoingAway(docker: Docker): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 500));
    try {
      // dockerode takes the signal (as the health probe's ping does); its types do not say so.
      await (docker as unknown as { ping(o: { abortSignal: AbortSignal }): Promise<unknown> }).ping({
        abortSignal: AbortSignal.timeout(2_000),
      });
    } catch (err) {
      if (isEngineUnreachable(err) || (err as Error).name === "AbortError" || (err as Error).name === "TimeoutError") return true;
    }
  }
  return false;
}

function engineError(err: unknown): string {
  const e = err as { message?: string; json?: { message?: string }; statusCode?: number };
  return oneLine(e.json?.message ?? e.message ?? String(err));
}

interface BuildSpec {
  service: string;
  tag: string;
  context: NodeJS.ReadableStream;
  dockerfile: string;
  /** The Dockerfile's path as the compose file names it, for reasons (defaults to `dockerfile`). */
  dockerfileLabel?: string;
  /** The Dockerfile's text, to name a failing step by its line. */
  dockerfileText: string;
  args: Record<string, string>;
  target?: string;
  noCache: boolean;
  /** Network, memory, CPU, processes and time of the build. */
  limits: BuildLimits;
  /** Where the steps run; stopped when the time limit passes. */
  box: BuildBox;
  /** Credentials for the FROM pulls from this registry (the app's own, sent as X-Registry-Config). */
  registryAuth?: { username: string; password: string; serveraddress: string };
  signal: AbortSignal;
  log: (line: string) => void;
}

class TimeLimitPassed extends Error {}

/**
 * Builds one image through the Engine API, confined to `spec.limits`. Failures name the
 * Dockerfile line of the failing step; past the time limit the box's steps are stopped first.
 */
export async function buildImage(docker: Docker, spec: BuildSpec): Promise<string | undefined> {
  const timeLimit = new AbortController();
  const timer = setTimeout(() => timeLimit.abort(new TimeLimitPassed()), spec.limits.timeoutSec * 1000);
  try {
    return await buildWithin(docker, { ...spec, signal: AbortSignal.any([spec.signal, timeLimit.signal]) });
  } catch (err) {
    if (!(err instanceof TimeLimitPassed)) throw err;
    // The engine may keep running a step its client left: stopped before the failure is told.
    await spec.box.stop();
    const reason = `build ${spec.service}: build exceeded its ${formatLimit(spec.limits.timeoutSec)} limit`;
    spec.log(`error: ${reason}`);
    throw new BuildFailure(reason, true);
  } finally {
    clearTimeout(timer);
  }
}

async function buildWithin(docker: Docker, spec: BuildSpec): Promise<string | undefined> {
  // The context is piped into the request: when the request fails (no engine), the packer's
  // error is the request's error, reported below; the stream must not crash the process with it.
  const context = spec.context as NodeJS.ReadableStream & { destroy?: (err?: Error) => void };
  context.on("error", () => {});
  let res: IncomingMessage;
  try {
    res = (await docker.buildImage(context, {
      t: spec.tag,
      dockerfile: spec.dockerfile,
      buildargs: spec.args,
      nocache: spec.noCache,
      rm: true,
      forcerm: true,
      ...(spec.target ? { target: spec.target } : {}),
      ...confinementParams(spec.limits, spec.box.flavor, spec.box.podman, spec.service),
      ...(spec.registryAuth
        ? {
            registryconfig: {
              [spec.registryAuth.serveraddress]: { username: spec.registryAuth.username, password: spec.registryAuth.password },
            },
          }
        : {}),
    })) as IncomingMessage;
  } catch (err) {
    context.destroy?.();
    if (spec.signal.aborted) throw spec.signal.reason;
    if (isEngineUnreachable(err)) throw engineUnreachable(docker, err);
    throw new BuildFailure(`build ${spec.service}: the container engine refused the build: ${engineError(err)}`, false);
  }
  const instructions = parseInstructions(spec.dockerfileText);
  let at: { stage: number; step: number } | undefined;
  let stage = -1;
  let error: string | undefined;
  let imageId: string | undefined;
  const stepOutput: string[] = [];
  await consume(res, spec.signal, (m) => {
    if (m.stream) {
      for (const line of m.stream.split(/\r?\n/)) {
        const step = /^(?:\[(\d+)\/\d+\]\s+)?STEP (\d+)\/\d+: (\S+)/.exec(line);
        if (step) {
          const n = Number(step[2]);
          if (step[1]) stage = Number(step[1]) - 1;
          else if ((step[3] ?? "").toUpperCase() === "FROM" && n === 1) stage += 1;
          at = { stage: Math.max(stage, 0), step: n };
          stepOutput.length = 0;
        } else {
          // The failing step's last lines tell a limit from a plain failure.
          stepOutput.push(line);
          if (stepOutput.length > 50) stepOutput.shift();
        }
        if (line.trim()) spec.log(line);
      }
    } else if (m.status) {
      spec.log(`${m.id ? `${m.id}: ` : ""}${m.status}${m.progress ? ` ${m.progress}` : ""}`);
    }
    if (m.aux?.ID) imageId = m.aux.ID;
    if (m.error || m.errorDetail?.message) {
      error = m.errorDetail?.message ?? m.error;
      spec.log(`error: ${error?.trim()}`);
    }
  }).catch((err) => {
    context.destroy?.();
    if (spec.signal.aborted) throw spec.signal.reason;
    if (isEngineUnreachable(err)) throw engineUnreachable(docker, err);
    throw new BuildFailure(`build ${spec.service}: the build stream broke: ${engineError(err)}`, false);
  });
  if (error !== undefined) {
    // A step killed by a signal may be the engine shutting down under it (podman stopping sends its
    // steps SIGTERM and may still report that before the socket closes): not the app's failure.
    if (/signal: (terminated|killed)/.test(error) && (await engineGoingAway(docker)))
      throw engineUnreachable(docker, new Error(error.trim()));
    const ins = at ? lineOfStep(instructions, at.stage, at.step) : undefined;
    const where = ins
      ? { file: (spec.dockerfileLabel ?? spec.dockerfile).split("/").pop() ?? spec.dockerfile, line: ins.line, keyword: ins.keyword }
      : undefined;
    const reason = limitReason(dockerBuildReason(spec.service, error, where), error, stepOutput, spec.limits);
    throw new BuildFailure(reason, true);
  }
  return imageId;
}

/** Pushes `repo:tag` and returns the manifest digest the registry reported. */
export async function pushImage(
  docker: Docker,
  o: {
    service: string;
    repo: string;
    tag: string;
    auth?: { username: string; password: string; serveraddress: string };
    insecure: boolean;
    signal: AbortSignal;
    log: (line: string) => void;
  },
): Promise<string | undefined> {
  let res: IncomingMessage;
  try {
    res = (await docker.getImage(o.repo).push({
      tag: o.tag,
      ...(o.auth ? { authconfig: o.auth } : {}),
      // podman's Engine API honours tlsVerify on push (the Docker engine ignores it).
      ...(o.insecure ? { tlsVerify: false } : {}),
    })) as IncomingMessage;
  } catch (err) {
    if (o.signal.aborted) throw o.signal.reason;
    if (isEngineUnreachable(err)) throw engineUnreachable(docker, err);
    throw new BuildFailure(`push ${o.service}: ${engineError(err)}`, false);
  }
  let error: string | undefined;
  let digest: string | undefined;
  await consume(res, o.signal, (m) => {
    if (m.status) o.log(`${m.id ? `${m.id}: ` : ""}${m.status}`);
    const d = /digest: (sha256:[0-9a-f]{64})/.exec(m.status ?? "")?.[1] ?? m.aux?.Digest;
    if (d) digest = d;
    if (m.error || m.errorDetail?.message) error = m.errorDetail?.message ?? m.error;
  }).catch((err) => {
    if (o.signal.aborted) throw o.signal.reason;
    if (isEngineUnreachable(err)) throw engineUnreachable(docker, err);
    throw new BuildFailure(`push ${o.service}: the push stream broke: ${engineError(err)}`, false);
  });
  if (error !== undefined) {
    // Credentials never reach reasons or logs; the engine's messages do not hold them.
    // Status codes as whole words: a blob digest or a port (sha256:…4013…, :40139) is not a 401.
    const denied = /unauthorized|authentication required|denied|\b40[13]\b/i.test(error);
    const reason = `push ${o.service}: ${denied ? "registry refused the credentials: " : "registry unreachable or failing: "}${oneLine(error.replace(/^trying to reuse blob \S+ at destination: /, ""))}`;
    o.log(`error: ${reason}`);
    throw new BuildFailure(reason, denied);
  }
  return digest;
}
