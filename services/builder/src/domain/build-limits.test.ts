import { describe, expect, it } from "vitest";
import { type BuildLimits, confinementParams, defaultBuildCaps, resolveBuildLimits } from "./build-limits.js";

const limits: BuildLimits = { network: "bridge", memoryMb: 512, cpus: 1.5, pids: 256, timeoutSec: 600 };
const box = { cgroupParent: "/libpod_parent/pod1/steps", pidNamespace: "/proc/42/ns/pid" };

describe("build limits", () => {
  it("takes the builder's caps for what the app leaves out, and holds what it asks to the caps", () => {
    expect(resolveBuildLimits(undefined, defaultBuildCaps)).toEqual({
      limits: { network: "bridge", memoryMb: 2048, cpus: 2, pids: 1024, timeoutSec: 1800 },
      notes: [],
    });
    const { limits: held, notes } = resolveBuildLimits(
      { network: "none", memoryMb: 8192, cpus: 1, pids: 100, timeoutMinutes: 90 },
      defaultBuildCaps,
    );
    expect(held).toEqual({ network: "none", memoryMb: 2048, cpus: 1, pids: 100, timeoutSec: 1800 });
    expect(notes).toEqual([
      "memoryMb 8192 MB asked; this builder allows at most 2048 MB",
      "timeoutMinutes 5400 s asked; this builder allows at most 1800 s",
    ]);
  });

  it("never sends the host network: podman gets a private namespace, Docker the bridge or none", () => {
    for (const network of ["bridge", "none"] as const) {
      for (const flavor of ["podman", "docker"] as const) {
        const params = confinementParams({ ...limits, network }, flavor, flavor === "podman" ? box : undefined);
        expect(params.networkmode).not.toBe("host");
        expect(JSON.stringify(params)).not.toMatch(/"Host":true|"host"/);
      }
    }
    const podman = confinementParams(limits, "podman", box);
    expect(JSON.parse(podman.nsoptions as string)).toEqual([
      { Name: "network", Host: false },
      { Name: "pid", Path: "/proc/42/ns/pid" },
    ]);
    expect(podman.networkmode).toBeUndefined();
    expect(confinementParams({ ...limits, network: "none" }, "podman", box).networkmode).toBe("NetworkDisabled");
    expect(confinementParams({ ...limits, network: "none" }, "docker").networkmode).toBe("none");
    expect(confinementParams(limits, "docker").networkmode).toBe("bridge");
  });

  it("sends memory without extra swap, CPUs as a CFS quota and the pids limit in the engine's form", () => {
    expect(confinementParams(limits, "podman", box, "web")).toMatchObject({
      memory: 512 * 1024 * 1024,
      memswap: 512 * 1024 * 1024,
      cpuperiod: 100_000,
      cpuquota: 150_000,
      cgroupparent: "/libpod_parent/pod1/steps-web",
    });
    expect(JSON.parse(confinementParams(limits, "docker").ulimits as string)).toEqual([{ Name: "nproc", Soft: 256, Hard: 256 }]);
  });

  it("gives each service's steps a cgroup of their own under the box (they build at once)", () => {
    const parents = ["web", "worker", "a/b"].map((s) => confinementParams(limits, "podman", box, s).cgroupparent);
    expect(parents).toEqual(["/libpod_parent/pod1/steps-web", "/libpod_parent/pod1/steps-worker", "/libpod_parent/pod1/steps-a_b"]);
  });
});
