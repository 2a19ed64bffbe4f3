import type Docker from "dockerode";
import type { EngineFlavor, PodmanBox } from "../domain/build-limits.js";

const flavors = new WeakMap<Docker, Promise<EngineFlavor>>();

/**
 * podman or Docker, asked once per client (a failed answer is asked again next time). podman's
 * own ping answers; Docker has no such path (404), or refuses its version prefix (400); /version would tell too, but podman takes seconds
 * to answer it (it asks the package manager about its runtime).
 */
function engineFlavor(docker: Docker): Promise<EngineFlavor> {
  let known = flavors.get(docker);
  if (!known) {
    known = libpod(docker, "GET", "/libpod/_ping").then(
      (): EngineFlavor => "podman",
      (err: { statusCode?: number }) => {
        if (err.statusCode === 404 || err.statusCode === 400) return "docker";
        throw err;
      },
    );
    known.catch(() => flavors.delete(docker));
    flavors.set(docker, known);
  }
  return known;
}

/** podman's own API (its pods); it answers only under a version prefix, 4.0.0 being its oldest. */
function libpod<T>(docker: Docker, method: "GET" | "POST" | "DELETE", path: string, options: object = {}): Promise<T> {
  const versioned = (docker.modem as { version?: string }).version ? path : `/v4.0.0${path}`;
  return new Promise((resolve, reject) =>
    docker.modem.dial(
      {
        path: versioned,
        method,
        options,
        statusCodes: {
          400: "bad request",
          200: true,
          201: true,
          204: true,
          304: true,
          404: "not found",
          409: "conflict",
          500: "server error",
        },
      },
      (err, data) => (err ? reject(err) : resolve(data as T)),
    ),
  );
}

/**
 * Where one build's steps run, so that they can be stopped and counted. Docker stops a step
 * when its client goes away; podman (4.x) lets it run on, so there the box is a pod: its pause
 * process is PID 1 of the namespace every step joins (killing it ends every step at once) and
 * its cgroup holds the steps' cgroups (its pids.max counts all their processes).
 */
export interface BuildBox {
  flavor: EngineFlavor;
  podman?: PodmanBox;
  /** Ends every step running in the box now. */
  stop(): Promise<void>;
  /** Stops the box and removes it; idempotent. */
  remove(): Promise<void>;
}

export async function openBuildBox(docker: Docker, o: { name: string; pids: number; labels: Record<string, string> }): Promise<BuildBox> {
  const flavor = await engineFlavor(docker);
  if (flavor === "docker") return { flavor, stop: async () => {}, remove: async () => {} };
  const remove = async () => {
    // podman answers 200 with the reason in `Err` when it could not remove the pod.
    const res = await libpod<{ Err?: string | null }>(docker, "DELETE", `/libpod/pods/${o.name}?`, { force: true });
    if (res?.Err) throw new Error(`removing build box ${o.name}: ${res.Err}`);
  };
  // A box left by a crashed builder under the same name (a retried build) goes first.
  await remove().catch(() => undefined);
  await libpod(docker, "POST", "/libpod/pods/create", {
    name: o.name,
    labels: o.labels,
    // The pause process needs no network; the steps get their own namespace.
    netns: { nsmode: "none" },
    resource_limits: { pids: { limit: o.pids } },
  });
  try {
    await libpod(docker, "POST", `/libpod/pods/${o.name}/start`);
    const pod = await libpod<{ CgroupPath: string; InfraContainerID: string }>(docker, "GET", `/libpod/pods/${o.name}/json`);
    const infra = await docker.getContainer(pod.InfraContainerID).inspect();
    return {
      flavor,
      // A child cgroup: a step's runtime removes its own cgroup when the step ends, never the pod's.
      podman: { cgroupParent: `${pod.CgroupPath}/steps`, pidNamespace: `/proc/${infra.State.Pid}/ns/pid` },
      stop: () => libpod(docker, "POST", `/libpod/pods/${o.name}/kill?`, { signal: "SIGKILL" }).then(() => undefined),
      remove,
    };
  } catch (err) {
    await remove().catch(() => undefined);
    throw err;
  }
}
