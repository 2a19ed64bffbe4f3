import type { App } from "@hoist/shared";

/** What one build may use: the app's `build` settings, each held to the builder's cap. */
export interface BuildLimits {
  network: "bridge" | "none";
  memoryMb: number;
  cpus: number;
  pids: number;
  timeoutSec: number;
}

/** The builder-wide caps (HOIST_BUILD_*): the default for apps that set nothing, and the most any app gets. */
export type BuildCaps = Omit<BuildLimits, "network">;

export const defaultBuildCaps: BuildCaps = { memoryMb: 2048, cpus: 2, pids: 1024, timeoutSec: 1800 };

/**
 * The app's settings under the builder's caps. An app asking for more than a cap gets the cap,
 * and `notes` says so (the API cannot know a builder's caps, so this is not an input error).
 */
export function resolveBuildLimits(settings: App["build"], caps: BuildCaps): { limits: BuildLimits; notes: string[] } {
  const notes: string[] = [];
  const held = (what: string, asked: number | undefined, cap: number, unit: string) => {
    if (asked === undefined) return cap;
    if (asked > cap) notes.push(`${what} ${asked}${unit} asked; this builder allows at most ${cap}${unit}`);
    return Math.min(asked, cap);
  };
  return {
    limits: {
      network: settings?.network ?? "bridge",
      memoryMb: held("memoryMb", settings?.memoryMb, caps.memoryMb, " MB"),
      cpus: held("cpus", settings?.cpus, caps.cpus, ""),
      pids: held("pids", settings?.pids, caps.pids, ""),
      timeoutSec: held(
        "timeoutMinutes",
        settings?.timeoutMinutes === undefined ? undefined : settings.timeoutMinutes * 60,
        caps.timeoutSec,
        " s",
      ),
    },
    notes,
  };
}

/** "30 min" or, for limits that are not whole minutes (tests, small caps), "45 s". */
export function formatLimit(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

/** Which engine serves the Engine API: their /build endpoints take the limits in different shapes. */
export type EngineFlavor = "docker" | "podman";

/** The podman build box: a pod whose cgroup caps the build's processes and whose PID namespace the steps join. */
export interface PodmanBox {
  cgroupParent: string;
  pidNamespace: string;
}

const CPU_PERIOD_US = 100_000;

/**
 * The /build query parameters that confine a build. Never the host network: podman's compat
 * endpoint runs steps on the host network unless `nsoptions` asks for a private one (its
 * `networkmode` only says whether to configure that namespace), Docker's takes `networkmode`.
 */
export function confinementParams(
  limits: BuildLimits,
  flavor: EngineFlavor,
  box?: PodmanBox,
  service = "default",
): Record<string, string | number> {
  const memory = limits.memoryMb * 1024 * 1024;
  const common = {
    memory,
    // Equal to memory: no swap on top, so the limit is what a step can hold.
    memswap: memory,
    cpuperiod: CPU_PERIOD_US,
    cpuquota: Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)),
  };
  if (flavor === "docker") {
    return {
      ...common,
      networkmode: limits.network,
      // Docker's /build has no pids limit; RLIMIT_NPROC holds non-root steps (the kernel exempts root).
      ulimits: JSON.stringify([{ Name: "nproc", Soft: limits.pids, Hard: limits.pids }]),
    };
  }
  const nsoptions: { Name: string; Host?: boolean; Path?: string }[] = [{ Name: "network", Host: false }];
  if (box) nsoptions.push({ Name: "pid", Path: box.pidNamespace });
  return {
    ...common,
    nsoptions: JSON.stringify(nsoptions),
    // A private namespace with only loopback; otherwise podman's default bridge network.
    ...(limits.network === "none" ? { networkmode: "NetworkDisabled" } : {}),
    // A child of the box's cgroup (its pids.max counts every process of every step), one per
    // service: a step's runtime removes its cgroup when the step ends, and a build's services
    // build at once, so a shared one vanished under the other services' running steps.
    ...(box ? { cgroupparent: `${box.cgroupParent}-${service.replace(/[^A-Za-z0-9_.-]/g, "_")}` } : {}),
  };
}
