import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobQueues, LocalSecretBox, Records, type Redis, secretContexts } from "@hoist/shared";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { authorizeKey, createRepo, type Keypair, makeKeypair, type TestRepo } from "../git/index.js";
import { testRegistryTags } from "../registry/auth.js";

/** A test's world: its own Redis prefix, records, queues, secret box, work dir and a git repo with an authorized deploy key. */
export interface BuilderWorld {
  prefix: string;
  redis: Redis;
  producer: Redis;
  records: Records;
  queues: JobQueues;
  secrets: LocalSecretBox;
  masterKey: Buffer;
  workDir: string;
  repo: TestRepo;
  key: Keypair;
  registry: string;
  /** Creates an app on the repo (sealed deploy key) and a queued build of `sha`. */
  createAppAndBuild(opts: {
    sha: string;
    key?: Keypair;
    hostKeys?: string[];
    buildTimeoutSec?: number;
    noCache?: boolean;
    sshUrl?: string;
    /** A merge request's preview build. */
    preview?: { iid: number };
  }): Promise<{ app: string; buildId: string }>;
  close(): Promise<void>;
}

export async function builderWorld(label: string): Promise<BuilderWorld> {
  const prefix = uniquePrefix(label);
  const redis = testRedis("worker");
  const producer = testRedis("producer");
  const records = new Records(redis, prefix);
  const queues = new JobQueues(producer, prefix);
  const masterKey = randomBytes(32);
  const secrets = new LocalSecretBox(masterKey);
  const workDir = mkdtempSync(join(tmpdir(), "hoist-work-"));
  const repo = createRepo();
  const key = makeKeypair();
  authorizeKey(key.publicKey, repo);
  const registry = process.env.HOIST_TEST_REGISTRY;
  if (!registry) throw new Error("HOIST_TEST_REGISTRY is not set");
  return {
    prefix,
    redis,
    producer,
    records,
    queues,
    secrets,
    masterKey,
    workDir,
    repo,
    key,
    registry,
    async createAppAndBuild(o) {
      const app = `app-${randomBytes(4).toString("hex")}`;
      const k = o.key ?? key;
      await records.apps.create({
        name: app,
        branch: "main",
        repo: { sshUrl: o.sshUrl ?? repo.sshUrl },
        target: { kind: "local", services: {} },
        supersede: "running",
        tagBuilds: true,
        buildTimeoutSec: o.buildTimeoutSec ?? 600,
        // Linked to a GitLab project (statuses are notified); no outgoing webhook configured.
        gitlab: { connectionId: "glc_test", projectId: 1 },
        deployKey: { publicKey: k.publicKey, privateKey: await secrets.seal(k.privateKey, secretContexts.deployKey(app)) },
        ...(o.hostKeys ? { hostKeys: o.hostKeys } : {}),
      });
      const build = await records.builds.create({
        app,
        ref: "refs/heads/main",
        sha: o.sha,
        trigger: "manual",
        ...(o.noCache ? { noCache: true } : {}),
        ...(o.preview ? { preview: o.preview } : {}),
      });
      return { app, buildId: build.id };
    },
    async close() {
      await queues.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
      producer.disconnect();
      repo.remove();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** The tags of `repo` in the test registry (none: []), read with a token as the test registry's clients do. */
export async function registryTags(registry: string, repo: string): Promise<string[]> {
  if (registry !== process.env.HOIST_TEST_REGISTRY) throw new Error(`registryTags reads the test registry, not ${registry}`);
  return testRegistryTags(repo);
}
