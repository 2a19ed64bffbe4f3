import { Readable } from "node:stream";
import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { BuildFailure } from "../domain/failure.js";
import { buildImage } from "./docker.js";

/**
 * How a failed build step is told apart from an engine that went away under it: podman stopping
 * sends its running steps SIGTERM and may report that ("signal: terminated") before its socket
 * closes. With the engine gone it is "docker unreachable" (retried); with it there, the step's.
 */
function engine(ping: () => Promise<unknown>): Docker {
  const lines = [
    { stream: "STEP 1/2: FROM busybox\n" },
    { stream: "STEP 2/2: RUN sleep 20\n" },
    { error: 'building at STEP "RUN sleep 20": while running runtime: signal: terminated' },
  ];
  return {
    modem: { socketPath: "/run/test/podman.sock" },
    buildImage: async () => Readable.from(lines.map((l) => `${JSON.stringify(l)}\n`)),
    ping,
  } as unknown as Docker;
}

const spec = () => ({
  service: "web",
  tag: "t:1",
  context: Readable.from([]),
  dockerfile: "Dockerfile",
  dockerfileText: "FROM busybox\nRUN sleep 20\n",
  args: {},
  noCache: false,
  limits: { network: "none" as const, memoryMb: 256, cpus: 1, pids: 64, timeoutSec: 60 },
  box: { flavor: "docker" as const, stop: async () => {}, remove: async () => {} },
  signal: new AbortController().signal,
  log: () => {},
});

const failureOf = (docker: Docker) =>
  buildImage(docker, spec()).then(
    () => undefined,
    (e: unknown) => e as BuildFailure,
  );

describe("buildImage: a step killed by a signal", () => {
  it("is the engine going away when it stops answering: docker unreachable, retried", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED /run/test/podman.sock"), { code: "ECONNREFUSED", syscall: "connect" });
    const err = await failureOf(engine(async () => Promise.reject(refused)));
    expect(err).toBeInstanceOf(BuildFailure);
    expect(err?.message).toMatch(/^docker unreachable at \/run\/test\/podman\.sock: building at STEP/);
    expect(err?.permanent).toBe(false);
  });

  it("is the step's own failure when the engine still answers: named by its line, not retried", async () => {
    const err = await failureOf(engine(async () => "OK"));
    expect(err?.message).toMatch(/^build web: Dockerfile:2 RUN/);
    expect(err?.permanent).toBe(true);
  });
});
