import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { authorizeKey, createRepo, type TestRepo } from "../support/git/index.js";
import { ensureBaseImages } from "../support/images/base-images.js";
import { type ServiceProcess, startService } from "../support/processes.js";

/**
 * The webhook -> builder (-> deployer) path for a chaos scenario: the API in-process (the test
 * harness, so its clock can be moved), a builder and optionally a deployer as processes on the
 * harness's Redis prefix and data dir (hence its master key), and a git repository behind the
 * test sshd that apps are created on.
 */
export interface Pipeline {
  h: ApiHarness;
  repo: TestRepo;
  /** The builder's HOIST_WORK_DIR: its per-build dirs live (and must end) here. */
  workDir: string;
  builder: ServiceProcess;
  deployer: ServiceProcess | undefined;
  /** Creates an app on the repo (POST /v1/apps with `body`), lets its deploy key fetch; returns its webhook. */
  createApp(body: Record<string, unknown>): Promise<{ hook: string; token: string }>;
  close(): Promise<void>;
}

export async function startPipeline(opts: { deployer?: boolean; workDir?: string } = {}): Promise<Pipeline> {
  await ensureBaseImages();
  const h = await startApi();
  const repo = createRepo();
  const ownWorkDir = opts.workDir === undefined;
  const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), "hoist-chaos-work-"));
  const common: Record<string, string> = {
    REDIS_URL: process.env.REDIS_URL as string,
    DOCKER_HOST: process.env.DOCKER_HOST as string,
    HOIST_QUEUE_PREFIX: h.prefix,
    HOIST_DATA_DIR: h.deps.config.HOIST_DATA_DIR,
  };
  for (const k of ["CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"])
    if (process.env[k]) common[k] = process.env[k] as string;
  const builder = startService("builder", {
    ...common,
    HOIST_REGISTRY: process.env.HOIST_TEST_REGISTRY as string,
    HOIST_REGISTRY_INSECURE: "true",
    HOIST_WORK_DIR: workDir,
    HOIST_CONCURRENCY: "2",
  });
  const deployer = opts.deployer ? startService("deployer", { ...common, HOIST_LOCAL_STOP_TIMEOUT_S: "1" }) : undefined;
  const procs = [builder, ...(deployer ? [deployer] : [])];
  try {
    await Promise.all(procs.map((p) => p.waitForLog(/"msg":"ready"/, 60_000)));
  } catch (err) {
    for (const p of procs) await p.stop("SIGKILL");
    throw err;
  }
  return {
    h,
    repo,
    workDir,
    builder,
    deployer,
    async createApp(body) {
      const res = await h.api("POST", "/apps", { repo: { sshUrl: repo.sshUrl }, ...body });
      if (res.status !== 201) throw new Error(`creating the app: ${res.status} ${JSON.stringify(res.body)}`);
      authorizeKey(res.body.deployKey.publicKey, repo);
      return { hook: `${h.url}${new URL(res.body.webhook.url).pathname}`, token: res.body.webhook.token };
    },
    async close() {
      for (const p of procs) await p.stop("SIGKILL");
      await h.close();
      repo.remove();
      if (ownWorkDir) rmSync(workDir, { recursive: true, force: true });
    },
  };
}
