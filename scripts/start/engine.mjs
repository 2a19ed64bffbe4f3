// Finds (or starts) the Docker Engine API and an image registry for `pnpm start`. What it cannot
// find it says in one line with the install command; the stack runs without it, and builds and
// deploys fail with the reason until it is there.
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { freePort } from "./ports.mjs";

const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const root = resolve(import.meta.dirname, "..", "..");

/** GET /_ping on a unix:// or tcp:// Engine API; resolves to undefined when it answers, else why not. */
export function pingEngine(dockerHost) {
  return new Promise((ok) => {
    const target = dockerHost.startsWith("unix://")
      ? { socketPath: dockerHost.slice("unix://".length) }
      : (() => {
          const u = new URL(dockerHost.replace(/^tcp:/, "http:"));
          return { host: u.hostname, port: Number(u.port || 2375) };
        })();
    const req = request({ ...target, path: "/_ping", timeout: 3_000 }, (res) => {
      res.resume();
      ok(res.statusCode === 200 ? undefined : `answered ${res.statusCode}`);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 3 s")));
    req.on("error", (err) => ok(err.message));
    req.end();
  });
}

function pingRegistry(hostPort) {
  return new Promise((ok) => {
    const req = request(`http://${hostPort}/v2/`, { timeout: 3_000 }, (res) => {
      res.resume();
      ok(undefined);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 3 s")));
    req.on("error", (err) => ok(err.message));
    req.end();
  });
}

/** Engine API sockets to try when DOCKER_HOST is unset: Docker's, then podman's (rootless, then rootful). */
function knownSockets() {
  const runtime = process.env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 0}`;
  return ["/var/run/docker.sock", join(runtime, "podman", "podman.sock"), "/run/podman/podman.sock"];
}

/**
 * Fills env.DOCKER_HOST and env.HOIST_REGISTRY (+ HOIST_REGISTRY_INSECURE, and HOIST_REGISTRY_SECRET_FILE for a registry started here). Starts podman's API
 * service and/or Debian's docker-registry through scripts/services-up.sh (the one place that
 * writes their containers.conf/registries.conf), state in $HOIST_DATA_DIR/services.
 */
export async function wireEngineAndRegistry(env, supervisor, say) {
  const servicesDir = join(env.HOIST_DATA_DIR, "services");
  const want = [];
  const started = [];

  if (env.DOCKER_HOST) {
    const why = await pingEngine(env.DOCKER_HOST);
    if (why) say("start", `DOCKER_HOST=${env.DOCKER_HOST} does not answer (${why}): builds and deploys fail until it does`);
    else say("start", `Docker API: DOCKER_HOST=${env.DOCKER_HOST}`);
  } else {
    for (const socket of knownSockets()) {
      if ((await pingEngine(`unix://${socket}`)) === undefined) {
        env.DOCKER_HOST = `unix://${socket}`;
        say("start", `Docker API: found ${socket}`);
        break;
      }
    }
    if (!env.DOCKER_HOST) {
      if (has("podman") && has("runc")) want.push("podman");
      else {
        const pkgs = [has("podman") ? "" : "podman", has("runc") ? "" : "runc"].filter(Boolean).join(" ");
        say(
          "start",
          `no Docker API (no DOCKER_HOST, nothing at ${knownSockets().join(", ")}) and no ${pkgs}: install it (sudo apt-get install -y ${pkgs}) or Docker, or set DOCKER_HOST; builds and deploys fail until then`,
        );
      }
    }
  }

  let registryViaEngine = false;
  if (env.HOIST_REGISTRY) {
    say("start", `registry: HOIST_REGISTRY=${env.HOIST_REGISTRY}`);
  } else if (has("docker-registry")) {
    want.push("registry");
  } else if (env.DOCKER_HOST || want.includes("podman")) {
    registryViaEngine = true;
  } else {
    say(
      "start",
      "no registry: install one (sudo apt-get install -y docker-registry) or set HOIST_REGISTRY=host:port; builds fail at push until then",
    );
  }

  if (want.length) {
    // A registry started beside a private podman is marked insecure in its registries.conf.
    const registryPort = await freePort();
    // Registered first: a Ctrl-C while they start still stops them (services-down.sh goes by pid files).
    supervisor.cleanups.push(async () => {
      const { out } = await supervisor.oneShot("services", "bash", [join(root, "scripts", "services-down.sh")], {
        env: { ...process.env, W: servicesDir },
      });
      for (const line of out.split("\n").filter(Boolean)) say("services", line);
    });
    const { code, out } = await supervisor.oneShot("services", "bash", [join(root, "scripts", "services-up.sh")], {
      env: { ...process.env, W: servicesDir, SERVICES: want.join(" "), INSTALL: "no", REGISTRY_PORT: String(registryPort) },
    });
    if (code !== 0) {
      say("start", `could not start ${want.join(" and ")} (see above; logs in ${servicesDir})`);
    } else {
      for (const m of out.matchAll(/^export (\w+)="(.*)"$/gm)) {
        if (["DOCKER_HOST", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"].includes(m[1])) env[m[1]] = m[2];
        // The registry takes tokens from Hoist's token service (started with it); the builder and the deployer derive their users from this secret file.
        if (["HOIST_REGISTRY", "HOIST_REGISTRY_INSECURE", "HOIST_REGISTRY_SECRET_FILE"].includes(m[1])) env[m[1]] = m[2];
      }
      if (want.includes("podman")) started.push(`podman's Docker API at ${env.DOCKER_HOST} (images in ${servicesDir}/containers)`);
      if (want.includes("registry"))
        started.push(
          `a registry at ${env.HOIST_REGISTRY} with per-app token auth (data in ${servicesDir}/registry, keys in ${servicesDir}/registry-auth)`,
        );
    }
  }

  if (registryViaEngine && env.DOCKER_HOST && !(await pingEngine(env.DOCKER_HOST))) {
    const r = await registryContainer(env, supervisor);
    if (r.hostPort) {
      env.HOIST_REGISTRY = r.hostPort;
      env.HOIST_REGISTRY_INSECURE = "true";
      started.push(`a registry (registry:2) at ${r.hostPort}`);
    } else {
      say(
        "start",
        `no registry: install one (sudo apt-get install -y docker-registry) or set HOIST_REGISTRY=host:port (registry:2 through the Docker API failed: ${r.why}); builds fail at push until then`,
      );
    }
  }
  return started;
}

/** The `registry:2` image through the Engine API, on a free loopback port, removed on the way out. */
async function registryContainer(env, supervisor) {
  const { default: Docker } = await import("dockerode");
  const docker = env.DOCKER_HOST.startsWith("unix://")
    ? new Docker({ socketPath: env.DOCKER_HOST.slice("unix://".length) })
    : new Docker({
        host: new URL(env.DOCKER_HOST.replace(/^tcp:/, "http:")).hostname,
        port: Number(new URL(env.DOCKER_HOST.replace(/^tcp:/, "http:")).port || 2375),
      });
  const port = await freePort();
  const image = "docker.io/library/registry:2";
  try {
    const have = await docker
      .getImage(image)
      .inspect()
      .then(
        () => true,
        () => false,
      );
    if (!have) {
      const stream = await docker.pull(image);
      await new Promise((ok, ko) =>
        docker.modem.followProgress(stream, (err, res) =>
          (err ?? res?.find((m) => m.error)) ? ko(err ?? new Error(res.find((m) => m.error).error)) : ok(),
        ),
      );
    }
    const container = await docker.createContainer({
      Image: image,
      name: `hoist-registry-${port}`,
      Env: [`REGISTRY_HTTP_ADDR=127.0.0.1:${port}`],
      HostConfig: { NetworkMode: "host", AutoRemove: true },
    });
    await container.start();
    supervisor.cleanups.push(() => container.stop({ t: 2 }).catch(() => undefined));
    for (let i = 0; i < 100; i++) {
      if ((await pingRegistry(`127.0.0.1:${port}`)) === undefined) return { hostPort: `127.0.0.1:${port}` };
      await new Promise((ok) => setTimeout(ok, 100));
    }
    return { why: "it did not answer within 10 s" };
  } catch (err) {
    return { why: (err instanceof Error ? err.message : String(err)).split("\n")[0] };
  }
}
