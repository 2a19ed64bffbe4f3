import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../audit/log.js";
import { recordKeys } from "../records/keys.js";
import { Records } from "../records/repos.js";
import { aclFile, SERVICE_USERS, serviceRedisUrl } from "./acl.js";

const passwords = {
  admin: "admin-password-0123456789",
  api: "api-password-0123456789ab",
  builder: "builder-password-01234567",
  deployer: "deployer-password-0123456",
  notifier: "notifier-password-0123456",
};
const prefix = "acltest";

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe("Redis ACL users per service (a real redis-server with the generated ACL file)", () => {
  const dir = mkdtempSync(join(tmpdir(), "hoist-acl-"));
  let proc: ChildProcess;
  let base: string;
  const clients: Redis[] = [];
  const queues: Queue[] = [];
  const workers: Worker[] = [];
  const as = (who: (typeof SERVICE_USERS)[number], opts: { blocking?: boolean } = {}) => {
    const c = new Redis(serviceRedisUrl(base, who, passwords[who]), { maxRetriesPerRequest: opts.blocking ? null : 1, lazyConnect: false });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const port = await freePort();
    base = `redis://127.0.0.1:${port}`;
    writeFileSync(join(dir, "users.acl"), aclFile(prefix, passwords), { mode: 0o600 });
    proc = spawn(
      "redis-server",
      ["--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--save", "", "--aclfile", join(dir, "users.acl")],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      proc.stdout?.on("data", (d: Buffer) => /Ready to accept connections/.test(d.toString()) && resolve());
      proc.once("exit", (code) => reject(new Error(`redis-server exited (${code})`)));
    });
    const admin = new Redis(`redis://default:${passwords.admin}@127.0.0.1:${port}`);
    clients.push(admin);
    await admin.hset(`${prefix}:rec:release:r1`, "status", "live");
    await admin.hset(`${prefix}:rec:app:a1`, "name", "a1");
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close(true)));
    await Promise.all(queues.map((q) => q.close()));
    for (const c of clients) c.disconnect();
    proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a connection without a password, and with another service's password", async () => {
    const anon = new Redis(base, { maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    // The refusal is asserted below; the connection's own error event is expected, not a failure.
    anon.on("error", () => {});
    clients.push(anon);
    await anon.connect().catch(() => {});
    await expect(anon.get("x")).rejects.toThrow(/NOAUTH|Stream isn't writeable|Connection is closed/);
    const probe = new Redis(base, { maxRetriesPerRequest: 0, enableReadyCheck: false });
    clients.push(probe);
    await expect(probe.auth("hoist-notifier", passwords.builder)).rejects.toThrow(/WRONGPASS/);
    expect(await probe.auth("hoist-notifier", passwords.notifier)).toBe("OK");
  });

  it("the notifier reads releases but cannot write them, nor apps, nor other queues", async () => {
    const n = as("notifier");
    expect(await n.hget(`${prefix}:rec:release:r1`, "status")).toBe("live");
    await expect(n.hset(`${prefix}:rec:release:r1`, "status", "failed")).rejects.toThrow(/NOPERM/);
    await expect(n.hset(`${prefix}:rec:app:a1`, "image", "evil")).rejects.toThrow(/NOPERM/);
    await expect(n.lpush(`${prefix}:deploy:wait`, "x")).rejects.toThrow(/NOPERM/);
    // Its /metrics reads every queue's depth; adding to another queue stays refused.
    const builds = new Queue("build", { connection: n, prefix, skipMetasUpdate: true });
    queues.push(builds);
    expect(await builds.getJobCounts("waiting", "active")).toEqual({ waiting: 0, active: 0 });
    expect(await builds.getJobs(["waiting"], 0, 0, true)).toEqual([]);
    await expect(builds.add("build", { buildId: "b9" })).rejects.toThrow(/NOPERM/);
    await n.set(`${prefix}:notify:sent:slack:e:1`, "1");
    // A script runs with the caller's rights: a write smuggled through EVAL is refused too.
    await expect(n.eval("return redis.call('HSET', KEYS[1], 'status', 'failed')", 1, `${prefix}:rec:release:r1`)).rejects.toThrow(
      /NOPERM|No permissions/,
    );
    expect(await as("api").hget(`${prefix}:rec:release:r1`, "status")).toBe("live");
  });

  it("the builder writes builds and releases but not the app list, connections or hooks; the deployer writes releases and (previews) builds, not hooks", async () => {
    const b = as("builder");
    await b.hset(`${prefix}:rec:build:b1`, "status", "running");
    await b.hset(`${prefix}:rec:release:r2`, "status", "pending");
    // It may not add apps, GitLab connections or webhook routes.
    await expect(b.zadd(`${prefix}:rec:apps`, 1, "evil")).rejects.toThrow(/NOPERM/);
    await expect(b.hset(`${prefix}:rec:gitlab:g1`, "token", "evil")).rejects.toThrow(/NOPERM/);
    await expect(b.set(`${prefix}:rec:hook:h1`, "a1")).rejects.toThrow(/NOPERM/);
    // The record scripts (a build's transition, a deploy's steps) are given the keys they write.
    const setStatus = "return redis.call('HSET', KEYS[1], 'status', ARGV[1])";
    expect(await b.eval(setStatus, 1, `${prefix}:rec:build:b1`, "succeeded")).toBe(0);
    await expect(b.eval(setStatus, 1, `${prefix}:rec:gitlab:g1`, "evil")).rejects.toThrow(/NOPERM/);
    const d = as("deployer");
    await d.hset(`${prefix}:rec:release:r2`, "status", "live");
    expect(await d.eval(setStatus, 1, `${prefix}:rec:release:r2`, "retired")).toBe(0);
    await expect(d.set(`${prefix}:session:s1`, "admin")).rejects.toThrow(/NOPERM/);
    await expect(b.set(`${prefix}:session:s1`, "admin")).rejects.toThrow(/NOPERM/);
    // The deployer's previews worker creates a preview's build (record, once-key, build job) and cancels an older one.
    expect(await d.eval(setStatus, 1, `${prefix}:rec:build:b1`, "canceled")).toBe(0);
    await d.set(`${prefix}:rec:hook:preview:delivery:k1`, "b1");
    await d.set(`${prefix}:build:acl-probe`, "x");
    await d.del(`${prefix}:build:acl-probe`);
    // ...but no other hook key: not the webhook routes, nor a push delivery's once-key.
    await expect(d.set(`${prefix}:rec:hook:h1`, "a1")).rejects.toThrow(/NOPERM/);
    await expect(d.set(`${prefix}:rec:hook:h1:delivery:k1`, "b1")).rejects.toThrow(/NOPERM/);
    await expect(d.zadd(`${prefix}:rec:apps`, 1, "evil")).rejects.toThrow(/NOPERM/);
    await expect(d.hset(`${prefix}:rec:gitlab:g1`, "token", "evil")).rejects.toThrow(/NOPERM/);
  });

  it("environments: the builder numbers and indexes their releases and the deployer reads them, neither writes an environment", async () => {
    const records = (who: (typeof SERVICE_USERS)[number]) => new Records(as(who), prefix);
    const api = records("api");
    const app = await api.apps.create({
      name: "envapp",
      branch: "main",
      repo: { sshUrl: "ssh://git@127.0.0.1/envapp.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
    });
    await api.environments.create(app, { name: "staging", target: { kind: "local", services: {} }, auto: true });
    const builder = records("builder");
    expect((await builder.environments.list(app)).map((e) => e.name)).toEqual(["production", "staging"]);
    const made = await builder.releases.create({ app: "envapp", environment: "staging", buildId: "bld_x", images: [] });
    expect(made.number).toBe(1);
    const deployer = records("deployer");
    expect((await deployer.environments.get(app, "staging"))?.auto).toBe(true);
    expect((await deployer.releases.listByEnvironment("envapp", "staging")).map((r) => r.id)).toEqual([made.id]);
    await as("deployer").set(deployer.keys.liveRelease("envapp@staging"), made.id);
    expect((await deployer.releases.live("envapp", "staging"))?.id).toBe(made.id);
    for (const who of ["builder", "deployer", "notifier"] as const) {
      await expect(as(who).hset(`${prefix}:rec:app:envapp:env:staging:config`, "auto", "false")).rejects.toThrow(/NOPERM/);
    }
    for (const who of ["builder", "notifier"] as const) {
      await expect(as(who).zadd(`${prefix}:rec:app:envapp:envs`, 1, "evil")).rejects.toThrow(/NOPERM/);
    }
  });

  it("previews: the api enqueues them, the deployer takes them, keeps their records and makes only their environments mr-<iid>", async () => {
    const api = new Records(as("api"), prefix);
    const app = await api.apps.create({
      name: "prevapp",
      branch: "main",
      repo: { sshUrl: "ssh://git@127.0.0.1/prevapp.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
    });
    const q = new Queue("previews", { connection: as("api"), prefix });
    queues.push(q);
    await q.add("close", { kind: "close" }, { jobId: "close.prevapp.1.d" });
    const d = as("deployer");
    const deployer = new Records(d, prefix);
    const sha = "c".repeat(40);
    expect((await deployer.previews.upsert("prevapp", 1, { status: "building", sha, sourceBranch: "f", fork: false })).ok).toBe(true);
    await deployer.environments.create(app, { name: "mr-1", target: { kind: "local", services: {} } });
    expect(await deployer.environments.delete("prevapp", "mr-1")).toBe(true);
    await expect(d.hset(`${prefix}:rec:app:prevapp:env:staging:config`, "auto", "false")).rejects.toThrow(/NOPERM/);
    const taken = await new Promise<string | undefined>((resolve, reject) => {
      const w = new Worker("previews", async (job) => resolve(job.id), { connection: as("deployer", { blocking: true }), prefix });
      w.on("error", reject);
      w.on("failed", (_j, err) => reject(err));
      workers.push(w);
    });
    expect(taken).toBe("close.prevapp.1.d");
    for (const who of ["builder", "notifier"] as const) {
      await expect(new Records(as(who), prefix).previews.patch("prevapp", 1, { title: "evil" })).rejects.toThrow(/NOPERM/);
      await expect(as(who).lpush(`${prefix}:previews:wait`, "x")).rejects.toThrow(/NOPERM/);
      // Their /metrics read the previews queue's depth.
      const read = new Queue("previews", { connection: as(who), prefix, skipMetasUpdate: true });
      queues.push(read);
      expect(await read.getJobCounts("failed")).toEqual({ failed: 0 });
    }
    expect((await new Records(as("notifier"), prefix).previews.get("prevapp", 1))?.status).toBe("building");
  });

  it("the builder reads an app record but may not write it; it pins the git host's keys under their own key", async () => {
    const b = as("builder");
    const app = `${prefix}:rec:app:a1`;
    expect(await b.hgetall(app)).toEqual({ name: "a1" });
    await expect(b.hset(app, "repo", "evil")).rejects.toThrow(/NOPERM/);
    await expect(b.set(app, "evil")).rejects.toThrow(/NOPERM/);
    await expect(b.hdel(app, "name")).rejects.toThrow(/NOPERM/);
    await expect(b.del(app)).rejects.toThrow(/NOPERM/);
    await expect(b.eval("return redis.call('HSET', KEYS[1], 'repo', ARGV[1])", 1, app, "evil")).rejects.toThrow(/NOPERM/);
    expect(await b.hgetall(app)).toEqual({ name: "a1" });

    // Through the records layer, as the builder uses it, on a whole app record.
    const admin = new Redis(serviceRedisUrl(base, "api", passwords.api));
    clients.push(admin);
    await new Records(admin, prefix).apps.create({
      name: "pinned",
      branch: "main",
      repo: { sshUrl: "ssh://git@127.0.0.1:2222/srv/pinned.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 600,
    });
    const records = new Records(b, prefix);
    await expect(records.apps.update("pinned", { repo: { sshUrl: "ssh://git@127.0.0.1:2222/evil.git" } })).rejects.toThrow(/NOPERM/);
    const line = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPin";
    expect(await records.apps.pinHostKeys("pinned", [line])).toBe(true);
    expect((await records.apps.require("pinned")).hostKeys).toEqual([line]);
    // The API, the deployer and the notifier read the pin with the app; only the builder (and the API) write it.
    for (const who of ["api", "deployer", "notifier"] as const) {
      expect((await new Records(as(who), prefix).apps.get("pinned"))?.hostKeys).toEqual([line]);
    }
    for (const who of ["deployer", "notifier"] as const) {
      await expect(new Records(as(who), prefix).apps.pinHostKeys("pinned", [line])).rejects.toThrow(/NOPERM/);
    }
  });

  it("each user does its real work: BullMQ workers on their queues, build to deploy to notify", async () => {
    const queue = (who: (typeof SERVICE_USERS)[number], name: string) => {
      const q = new Queue(name, { connection: as(who), prefix });
      queues.push(q);
      return q;
    };
    let failed: (err: Error) => void = () => {};
    const failure = new Promise<never>((_, reject) => {
      failed = reject;
    });
    const worker = (who: (typeof SERVICE_USERS)[number], name: string, fn: (data: Record<string, string>) => Promise<void>) => {
      const w = new Worker(name, async (job) => fn(job.data as Record<string, string>), {
        connection: as(who, { blocking: true }),
        prefix,
      });
      // A refused command fails the job: the test fails with it instead of waiting.
      w.on("failed", (_job, err) => failed(new Error(`${who}'s ${name} job failed: ${err.message}`)));
      w.on("error", (err) => failed(new Error(`${who}'s ${name} worker: ${err.message}`)));
      workers.push(w);
      return w;
    };
    const notified: string[] = [];
    const allNotified = new Promise<void>((resolve) => {
      worker("notifier", "notify", async (data) => {
        // Reads what it tells about, marks it sent.
        expect(await as("notifier").hget(`${prefix}:rec:release:r1`, "status")).toBeTruthy();
        await as("notifier").set(`${prefix}:notify:sent:slack:${data.event}:r1`, "sent", "EX", 60);
        notified.push(data.event as string);
        if (notified.length === 2) resolve();
      });
    });
    worker("builder", "build", async (data) => {
      const b = as("builder");
      await b.hset(`${prefix}:rec:build:${data.buildId}`, "status", '"succeeded"');
      await b.pexpire(`${prefix}:rec:build:${data.buildId}`, 60_000);
      await b.zadd(`${prefix}:rec:app:a1:releases`, 1, "r3");
      await queue("builder", "deploy").add("deploy", { releaseId: "r3" }, { jobId: "r3" });
      await queue("builder", "notify").add("notify", { event: "build.succeeded" });
    });
    worker("deployer", "deploy", async (data) => {
      const d = as("deployer");
      await d.hset(`${prefix}:rec:release:${data.releaseId}`, "status", '"live"');
      await d.set(`${prefix}:deployer:live:a1`, data.releaseId as string);
      await d.persist(`${prefix}:rec:build:b2`);
      await queue("deployer", "notify").add("notify", { event: "release.live" });
    });
    await queue("api", "build").add("build", { buildId: "b2" }, { jobId: "b2" });
    await Promise.race([allNotified, failure]);
    expect(notified.sort()).toEqual(["build.succeeded", "release.live"]);
    const admin = as("api");
    expect(await admin.hget(`${prefix}:rec:release:r3`, "status")).toBe('"live"');
    expect(await admin.ttl(`${prefix}:rec:build:b2`)).toBe(-1);
  });

  it("each worker appends to the audit log (trimmed by age as it appends) and can neither read, trim nor delete it", async () => {
    const key = recordKeys(prefix).audit;
    for (const who of ["builder", "deployer", "notifier"] as const) {
      const c = as(who);
      await new AuditLog(c, prefix, 30).append({
        at: new Date().toISOString(),
        actor: who,
        actorKind: "service",
        via: "worker",
        action: "secret.open",
        app: "a1",
        target: "env",
      });
      await expect(new AuditLog(c, prefix, 30).read({ limit: 10 })).rejects.toThrow(/NOPERM/);
      await expect(c.xrange(key, "-", "+")).rejects.toThrow(/NOPERM/);
      await expect(c.xrevrange(key, "+", "-")).rejects.toThrow(/NOPERM/);
      await expect(c.xread("COUNT", 1, "STREAMS", key, "0")).rejects.toThrow(/NOPERM/);
      await expect(c.xlen(key)).rejects.toThrow(/NOPERM/);
      await expect(c.xinfo("STREAM", key)).rejects.toThrow(/NOPERM/);
      await expect(c.xtrim(key, "MAXLEN", 0)).rejects.toThrow(/NOPERM/);
      await expect(c.xdel(key, "0-1")).rejects.toThrow(/NOPERM/);
      await expect(c.del(key)).rejects.toThrow(/NOPERM/);
      await expect(c.rename(key, `${prefix}:rec:build:stolen`)).rejects.toThrow(/NOPERM/);
      await expect(c.eval("return redis.call('XRANGE', KEYS[1], '-', '+')", 1, key)).rejects.toThrow(/NOPERM|No permissions/);
      // XADD on any other key stays refused.
      await expect(c.xadd(`${prefix}:auditx`, "*", "e", "x")).rejects.toThrow(/NOPERM/);
    }
    const { entries } = await new AuditLog(as("api"), prefix, 30).read({ limit: 10 });
    expect(entries.map((e) => `${e.actor} ${e.via} ${e.action} ${e.app} ${e.target} ${e.environment}`)).toEqual([
      "builder worker secret.open a1 env null",
      "deployer worker secret.open a1 env null",
      "notifier worker secret.open a1 env null",
    ]);
  });

  it("no service may run administrative commands or scan keys", async () => {
    for (const who of SERVICE_USERS) {
      const c = as(who);
      await expect(c.flushall()).rejects.toThrow(/NOPERM/);
      await expect(c.config("SET", "maxmemory-policy", "allkeys-lru")).rejects.toThrow(/NOPERM/);
      await expect(c.keys("*")).rejects.toThrow(/NOPERM/);
      expect(await c.info("memory")).toMatch(/maxmemory_policy/);
      // Only the API lists clients: bull-board shows each queue's workers.
      if (who === "api") expect(await c.client("LIST")).toMatch(/user=hoist-api/);
      else await expect(c.client("LIST")).rejects.toThrow(/NOPERM/);
    }
  });
});
