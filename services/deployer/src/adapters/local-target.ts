import { type App, type Image, type RegistryAuth, type Release, registryHost } from "@hoist/shared";
import type Docker from "dockerode";
import { demuxDockerLogs, lastLines, waitForHttp2xx } from "../domain/health.js";
import { type DeployInput, type DeployOutcome, type DeployTarget, PermanentDeployError } from "../domain/target.js";

export const LABELS = {
  app: "hoist.app",
  service: "hoist.service",
  release: "hoist.release",
  number: "hoist.release.number",
} as const;

/** Defaults of the per-service limits (`target.services.<name>.memoryMb`, `cpus`, `pids`). */
export const LIMITS = { memoryMb: 512, cpus: 1, pids: 512 } as const;
/** nobody:nogroup, for images whose user is root. */
const DEFAULT_USER = "65534:65534";

/** The bridge network of an app's containers. */
export function appNetworkName(app: string): string {
  return `hoist-app-${app}`;
}

type LocalTargetConfig = Extract<App["target"], { kind: "local" }>;
type ServiceConfig = LocalTargetConfig["services"][string];

interface Planned {
  image: Image;
  config: ServiceConfig;
  healthUrl: string;
  timeoutMs: number;
}

const PERMANENT_PULL = /manifest unknown|not found|name unknown|unauthorized|denied|invalid reference/i;

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/**
 * Single-host target over the Docker Engine API (podman here). Both generations cannot publish
 * the service's port at once, so the swap stops the old containers (kept), starts the new
 * ones and health-checks them; unhealthy new ones are removed and the old ones started again.
 */
export class LocalTarget implements DeployTarget {
  constructor(
    private readonly docker: Docker,
    private readonly opts: {
      stopTimeoutS: number;
      logLines?: number;
      healthIntervalMs?: number;
      /** The deployer's registry user (pull on every app's repository), sent only to its registry. */
      pullAuth?: RegistryAuth;
    } = { stopTimeoutS: 5 },
  ) {}

  async deploy({ app, release, env, step, signal }: DeployInput): Promise<DeployOutcome> {
    if (app.target.kind !== "local") throw new PermanentDeployError(`app ${app.name} is not a local-target app`);
    const plan = this.plan(app.target, release);
    for (const p of plan) await this.ensureImage(p.image.tag, step);

    const all = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${app.name}`] } });
    const leftovers = all.filter((c) => c.Labels[LABELS.release] === release.id);
    for (const c of leftovers) {
      await step(`removing container ${c.Names[0] ?? c.Id} left by an earlier attempt`);
      await this.remove(c.Id);
    }
    const old = all.filter((c) => c.Labels[LABELS.release] !== release.id);
    for (const c of old) {
      if (c.State !== "running") continue;
      await step(`stopping old container ${c.Names[0] ?? c.Id} (release ${c.Labels[LABELS.release]})`);
      await this.stop(c.Id);
    }

    const started: { id: string; p: Planned }[] = [];
    let failure: string | undefined;
    for (const p of plan) {
      const container = await this.docker.createContainer({
        name: `hoist-${app.name}-${p.image.service}-r${release.number}`.replace(/[^a-zA-Z0-9_.-]/g, "-"),
        Image: p.image.tag,
        Env: [...Object.entries(env).map(([k, v]) => `${k}=${v}`), `PORT=${p.config.port}`],
        Labels: {
          [LABELS.app]: app.name,
          [LABELS.service]: p.image.service,
          [LABELS.release]: release.id,
          [LABELS.number]: String(release.number),
        },
        ExposedPorts: { [`${p.config.port}/tcp`]: {} },
        ...(await this.isolation(app.name, p)),
      });
      started.push({ id: container.id, p });
      await container.start();
      await step(`started ${p.image.service} (${p.image.tag}) on port ${p.config.port}; waiting for 2xx on ${p.healthUrl}`);
      const health = await waitForHttp2xx(p.healthUrl, p.timeoutMs, {
        signal,
        ...(this.opts.healthIntervalMs ? { intervalMs: this.opts.healthIntervalMs } : {}),
        stillRunning: async () => (await container.inspect()).State.Running,
      });
      if (signal?.aborted) throw new Error(`deploy of ${release.id} stopped while health-checking: ${String(signal.reason)}`);
      if (!health.ok) {
        const logs = await this.tail(container.id);
        failure = `service ${p.image.service} did not become healthy: ${p.healthUrl} ${health.why}; last log lines:\n${logs.join("\n")}`;
        break;
      }
      await step(`${p.image.service} healthy after ${health.ms} ms`);
    }

    if (!failure) {
      for (const c of old) await this.remove(c.Id);
      await step(`removed ${old.length} old container(s)`);
      return { ok: true };
    }

    await step(failure);
    for (const s of started) await this.remove(s.id);
    for (const c of old) {
      await step(`starting old container ${c.Names[0] ?? c.Id} again`);
      await this.docker
        .getContainer(c.Id)
        .start()
        .catch((err) => {
          if (statusOf(err) !== 304) throw err;
        });
    }
    const byPort = new Map(Object.entries(app.target.services));
    for (const c of old) {
      const cfg = byPort.get(c.Labels[LABELS.service] ?? "");
      if (!cfg) continue;
      const url = `http://127.0.0.1:${cfg.port}${cfg.healthPath ?? "/"}`;
      const back = await waitForHttp2xx(url, (cfg.healthTimeout ?? 60) * 1000, { signal });
      await step(
        back.ok ? `old ${c.Labels[LABELS.service]} answers again` : `old ${c.Labels[LABELS.service]} does not answer: ${back.why}`,
      );
    }
    return { ok: false, reason: failure };
  }

  /**
   * An app's code is hostile: each app gets a bridge network of its own (never the host's, where
   * Hoist's Redis and API listen on loopback), its port published on 127.0.0.1 only, no
   * capabilities, no privilege escalation, a non-root user and memory, CPU and pids limits.
   */
  private async isolation(app: string, p: Planned): Promise<Pick<Docker.ContainerCreateOptions, "User" | "HostConfig">> {
    const network = await this.ensureNetwork(app);
    const c = p.config;
    const user = c.user ?? ((await this.imageUser(p.image.tag)) || DEFAULT_USER);
    return {
      User: user === "root" ? "0:0" : user,
      HostConfig: {
        NetworkMode: network,
        PortBindings: { [`${c.port}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(c.port) }] },
        RestartPolicy: { Name: "unless-stopped" },
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        Memory: (c.memoryMb ?? LIMITS.memoryMb) * 1024 * 1024,
        NanoCpus: Math.round((c.cpus ?? LIMITS.cpus) * 1e9),
        PidsLimit: c.pids ?? LIMITS.pids,
        ...(c.readOnly ? { ReadonlyRootfs: true, Tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" } } : {}),
      },
    };
  }

  /** The image's own user when it is not root (an image that chose a user keeps it). */
  private async imageUser(tag: string): Promise<string | undefined> {
    const user = (await this.docker.getImage(tag).inspect()).Config?.User?.trim();
    return user && !/^(root|0)(:.*)?$/.test(user) ? user : undefined;
  }

  private async ensureNetwork(app: string): Promise<string> {
    const name = appNetworkName(app);
    try {
      await this.docker.getNetwork(name).inspect();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      await this.docker.createNetwork({ Name: name, Driver: "bridge", CheckDuplicate: true, Labels: { [LABELS.app]: app } }).catch((e) => {
        // Another deployer created it between the inspect and the create.
        if (statusOf(e) !== 409) throw e;
      });
    }
    return name;
  }

  private plan(target: LocalTargetConfig, release: Release): Planned[] {
    if (release.images.length === 0) throw new PermanentDeployError(`release ${release.id} has no images`);
    return release.images.map((image) => {
      const config = target.services[image.service];
      if (!config) {
        throw new PermanentDeployError(
          `the app's local target has no port for service "${image.service}"; set target.services.${image.service}.port`,
        );
      }
      return {
        image,
        config,
        healthUrl: `http://127.0.0.1:${config.port}${config.healthPath ?? "/"}`,
        timeoutMs: (config.healthTimeout ?? 60) * 1000,
      };
    });
  }

  private async ensureImage(tag: string, step: (l: string) => Promise<void>): Promise<void> {
    try {
      await this.docker.getImage(tag).inspect();
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    await step(`pulling ${tag}`);
    let pullError: string | undefined;
    try {
      const auth = this.opts.pullAuth;
      const stream = await this.docker.pull(tag, auth && registryHost(tag) === auth.serveraddress ? { authconfig: auth } : {});
      const progress = await new Promise<unknown[]>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (err: Error | null, out: unknown[]) => (err ? reject(err) : resolve(out))),
      );
      // The engine reports a failed pull inside the progress stream, not as an HTTP error.
      const failed = progress.find((p): p is { error: string } => typeof (p as { error?: unknown }).error === "string");
      pullError = failed?.error;
    } catch (err) {
      const status = statusOf(err);
      if (!status || status >= 500) throw err;
      pullError = (err as Error).message;
    }
    try {
      await this.docker.getImage(tag).inspect();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      const why = (pullError ?? "the engine does not have it after pulling").trim();
      // A registry that is down or slow is worth retrying; an image or repository it does not have is not.
      if (pullError && !PERMANENT_PULL.test(pullError)) throw new Error(`pulling ${tag} failed: ${why}`);
      throw new PermanentDeployError(`image ${tag} cannot be pulled: ${why}`);
    }
  }

  private async stop(id: string): Promise<void> {
    await this.docker
      .getContainer(id)
      .stop({ t: this.opts.stopTimeoutS })
      .catch((err) => {
        if (statusOf(err) !== 304 && statusOf(err) !== 404) throw err;
      });
  }

  private async remove(id: string): Promise<void> {
    await this.docker
      .getContainer(id)
      .remove({ force: true })
      .catch((err) => {
        if (statusOf(err) !== 404) throw err;
      });
  }

  private async tail(id: string): Promise<string[]> {
    try {
      const buf = (await this.docker
        .getContainer(id)
        .logs({ stdout: true, stderr: true, tail: this.opts.logLines ?? 20 })) as unknown as Buffer;
      return lastLines(demuxDockerLogs(Buffer.from(buf)), this.opts.logLines ?? 20);
    } catch (err) {
      return [`(no logs: ${(err as Error).message})`];
    }
  }
}
