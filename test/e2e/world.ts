import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { freePort } from "../../services/deployer/src/testing/ports.js";
import { createRepo, type TestRepo } from "../support/git/index.js";
import { deployKeyRoutes, deployKeysServeGit } from "../support/gitlab/deploy-keys.js";
import { deploymentRoutes } from "../support/gitlab/deployments.js";
import { freezePeriodRoutes } from "../support/gitlab/freeze-periods.js";
import { hookRoutes } from "../support/gitlab/hooks.js";
import { mergeRequestNoteRoutes } from "../support/gitlab/merge-request-notes.js";
import { memberRoutes } from "../support/gitlab/oauth.js";
import { projectRoutes } from "../support/gitlab/projects.js";
import { type GitlabTestServer, startGitlabServer } from "../support/gitlab/server.js";
import type { GitlabProject } from "../support/gitlab/state.js";
import { statusRoutes } from "../support/gitlab/statuses.js";
import { userRoutes } from "../support/gitlab/users.js";
import { dockerFromEnv, ensureBaseImages } from "../support/images/base-images.js";
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp.js";
import { type ServiceProcess, startService } from "../support/processes.js";
import { SlackReceiver } from "../support/receivers/slack.js";

/**
 * Everything a push-to-live run needs, real where it can be: the four built services as separate
 * processes (as `pnpm start` runs them) on the global setup's Redis, podman, registry and sshd;
 * the GitLab test server with a real bare repository behind the sshd; a Slack receiver and an
 * OTLP receiver the services export their spans to.
 */
export interface E2eWorld {
  prefix: string;
  apiUrl: string;
  apiToken: string;
  gitlab: GitlabTestServer;
  project: GitlabProject;
  gitlabToken: string;
  repo: TestRepo;
  slack: SlackReceiver;
  otlp: OtlpReceiver;
  services: Record<ServiceName, ServiceProcess>;
  healthPorts: Record<Exclude<ServiceName, "api">, number>;
  /** Where the deployer's Caddy serves host routes (previews), as plain HTTP. */
  hostsPort: number;
  /** `/v1` call with the API token; JSON in and out. */
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export type ServiceName = "api" | "builder" | "deployer" | "notifier";

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through vitest, whose global setup starts the components`);
  return v;
}

export async function startE2eWorld(): Promise<E2eWorld> {
  const redisUrl = required("REDIS_URL");
  const dockerHost = required("DOCKER_HOST");
  const registry = required("HOIST_TEST_REGISTRY");
  await ensureBaseImages(dockerFromEnv());

  const prefix = uniquePrefix("e2e");
  const dir = mkdtempSync(join(tmpdir(), "hoist-e2e-"));
  const masterKeyFile = join(dir, "master.key");
  writeFileSync(masterKeyFile, randomBytes(32).toString("base64"), { mode: 0o600 });

  const gitlab = await startGitlabServer([
    userRoutes,
    projectRoutes,
    hookRoutes,
    deployKeysServeGit,
    deployKeyRoutes,
    statusRoutes,
    deploymentRoutes,
    freezePeriodRoutes,
    memberRoutes,
    mergeRequestNoteRoutes,
  ]);
  const gitlabToken = `glpat-${randomBytes(10).toString("hex")}`;
  const bot = gitlab.state.addUser("hoist-bot", gitlabToken);
  // Hoist's hook URL is on 127.0.0.1: the admin setting GitLab needs for that is turned on.
  gitlab.state.settings.allowLocalRequestsFromWebHooksAndServices = true;
  const repo = createRepo();
  const project = gitlab.state.addProject(
    { path_with_namespace: "acme/hello", default_branch: "main", ssh_url_to_repo: repo.sshUrl, bareRepoPath: repo.barePath },
    gitlab.url,
  );
  gitlab.state.addMember(project, bot, "maintainer");
  const slack = await new SlackReceiver().start();
  const otlp = await startOtlpReceiver();

  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const apiToken = randomBytes(24).toString("hex");
  const healthPorts = { builder: await freePort(), deployer: await freePort(), notifier: await freePort() };
  const hostsPort = await freePort();
  const common: Record<string, string> = {
    REDIS_URL: redisUrl,
    HOIST_QUEUE_PREFIX: prefix,
    HOIST_DATA_DIR: dir,
    HOIST_MASTER_KEY_FILE: masterKeyFile,
    HOIST_LOG_LEVEL: "info",
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_TRACES_SAMPLER: "parentbased_always_on",
    OTEL_METRICS_EXPORTER: "none",
    OTEL_LOGS_EXPORTER: "none",
  };
  for (const k of ["CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"]) {
    if (process.env[k]) common[k] = process.env[k] as string;
  }
  const health = (port: number) => ({ HOIST_HEALTH_PORT: String(port), HOIST_HEALTH_HOST: "127.0.0.1" });
  const services: Record<ServiceName, ServiceProcess> = {
    api: startService("api", {
      ...common,
      HOIST_PORT: String(apiPort),
      HOIST_HOST: "127.0.0.1",
      HOIST_API_TOKEN: apiToken,
      HOIST_PUBLIC_URL: apiUrl,
    }),
    builder: startService("builder", {
      ...common,
      ...health(healthPorts.builder),
      DOCKER_HOST: dockerHost,
      HOIST_REGISTRY: registry,
      HOIST_REGISTRY_INSECURE: "true",
      HOIST_WORK_DIR: join(dir, "builds"),
    }),
    deployer: startService("deployer", {
      ...common,
      ...health(healthPorts.deployer),
      DOCKER_HOST: dockerHost,
      HOIST_LOCAL_STOP_TIMEOUT_S: "1",
      HOIST_CADDY_HOSTS_LISTEN: `127.0.0.1:${hostsPort}`,
      HOIST_CADDY_HOSTS_HTTP: "true",
    }),
    notifier: startService("notifier", { ...common, ...health(healthPorts.notifier), HOIST_PUBLIC_URL: apiUrl }),
  };
  const readiness = Object.values(services).map((s) => s.waitForLog(/"msg":"(ready|listening)/, 30_000));
  const redis = testRedis();
  try {
    await Promise.all(readiness);
  } catch (err) {
    await Promise.all(Object.values(services).map((s) => s.stop("SIGKILL")));
    throw err;
  }

  return {
    prefix,
    apiUrl,
    apiToken,
    gitlab,
    project,
    gitlabToken,
    repo,
    slack,
    otlp,
    services,
    healthPorts,
    hostsPort,
    async api(method, path, body) {
      const res = await fetch(`${apiUrl}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${apiToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await Promise.all(Object.values(services).map((s) => s.stop("SIGTERM")));
      await Promise.all([gitlab.close(), slack.close(), otlp.close()]);
      await deletePrefix(redis, prefix);
      await redis.quit();
      repo.remove();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
