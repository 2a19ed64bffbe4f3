import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { suiteAcl } from "./redis-acl.js";

const run = promisify(execFile);

/** A free loopback port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(): Promise<number> {
  const listen = async (port: number) => {
    const srv = createServer().listen(port, "127.0.0.1");
    try {
      await once(srv, "listening");
      return srv;
    } catch {
      return undefined;
    }
  };
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = await listen(0);
    if (!a) continue;
    const port = (a.address() as { port: number }).port;
    const bus = port + 10_000 < 65_536 ? await listen(port + 10_000) : undefined;
    await new Promise((r) => a.close(r));
    if (bus) {
      await new Promise((r) => bus.close(r));
      return port;
    }
  }
  throw new Error("no free port pair (port, port + 10000) on 127.0.0.1 after 50 tries");
}

/** A master of the cluster and the replica that follows it, with the slot ranges it serves. */
interface Shard {
  master: number;
  replicas: number[];
  slots: [number, number][];
}

/**
 * A Redis Cluster of real redis-server processes on loopback: `masters` masters with `replicas`
 * replicas each (3 × 1 by default), made with `redis-cli --cluster create`. Every node loads the
 * suite's ACL file (the services' users and the admin), so each service connects as its own user
 * to any node; replicas authenticate to their masters as the admin. Nodes can be failed over
 * (`CLUSTER FAILOVER` on a replica), killed and frozen.
 */
export class RedisClusterSet {
  readonly dir = mkdtempSync(join(tmpdir(), "hoist-cluster-"));
  readonly servers = new Map<number, ChildProcess>();
  ports: number[] = [];
  /** The suite's admin URL on the first node; its host and port name one node, its user all. */
  adminUrl = "";
  private adminPassword: string | undefined;
  private aclArgs: string[] = [];

  constructor(readonly opts: { masters?: number; replicas?: number; nodeTimeoutMs?: number } = {}) {}

  /** REDIS_CLUSTER_NODES for the services. */
  get nodeList(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(",");
  }

  async start(): Promise<void> {
    const masters = this.opts.masters ?? 3;
    const count = masters * (1 + (this.opts.replicas ?? 1));
    for (let i = 0; i < count; i++) this.ports.push(await freeClusterPort());
    const acl = suiteAcl(this.dir, this.ports[0] as number);
    this.adminUrl = acl.url;
    const pw = new URL(acl.url).password;
    this.adminPassword = pw ? decodeURIComponent(pw) : undefined;
    this.aclArgs = acl.args;
    await Promise.all(this.ports.map((p) => this.startServer(p)));
    const env = { ...process.env, ...(this.adminPassword ? { REDISCLI_AUTH: this.adminPassword } : {}) };
    await run(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...this.ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        String(this.opts.replicas ?? 1),
        "--cluster-yes",
      ],
      { env, timeout: 60_000 },
    );
    await this.waitHealthy();
  }

  /** Starts redis-server on `port` (again after a kill: it reads its nodes.conf and AOF and rejoins). */
  async startServer(port: number): Promise<void> {
    const dir = join(this.dir, String(port));
    mkdirSync(dir, { recursive: true });
    const args = [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      dir,
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      "nodes.conf",
      "--cluster-node-timeout",
      String(this.opts.nodeTimeoutMs ?? 2_000),
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--save",
      "",
      "--maxmemory-policy",
      "noeviction",
      ...this.aclArgs,
      ...(this.adminPassword ? ["--masteruser", "default", "--masterauth", this.adminPassword] : []),
    ];
    const proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "inherit"] });
    this.servers.set(port, proc);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server ${port} did not start in 10 s`)), 10_000);
      proc.stdout?.on("data", (d: Buffer) => {
        if (/Ready to accept connections/.test(d.toString())) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("exit", (code) => reject(new Error(`redis-server ${port} exited (${code})`)));
    });
  }

  /** Resolves once every node sees cluster_state:ok and every master has its replicas in sync. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const want = this.opts.replicas ?? 1;
    for (;;) {
      const states = await Promise.all(this.ports.map((p) => this.onNode(p, (c) => c.call("CLUSTER", "INFO") as Promise<string>)));
      const shards = await this.shards().catch(() => []);
      const synced = await Promise.all(
        shards.map((s) =>
          this.onNode(s.master, async (c) => {
            const info = await c.info("replication");
            return [...info.matchAll(/^slave\d+:.*state=online/gm)].length >= want;
          }),
        ),
      );
      if (states.every((s) => /cluster_state:ok/.test(s)) && shards.length === (this.opts.masters ?? 3) && synced.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`the cluster was not healthy within ${timeoutMs} ms: ${states.join(" | ")}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * The admin URL on a replica: what the suite gives as REDIS_URL, so that a client that ignores
   * REDIS_CLUSTER_NODES (one server's connection) is refused every key (MOVED) instead of working
   * by luck on the master that happens to hold a test's slot.
   */
  async replicaAdminUrl(): Promise<string> {
    const replica = (await this.shards()).flatMap((s) => s.replicas)[0];
    if (replica === undefined) throw new Error("the cluster has no replica");
    const url = new URL(this.adminUrl);
    url.port = String(replica);
    return url.toString();
  }

  /** A client as the suite's admin on one node (no cluster routing): to look at one server alone. */
  adminOn(port: number): Redis {
    const c = new Redis(port, "127.0.0.1", {
      ...(this.adminPassword ? { password: this.adminPassword } : {}),
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    });
    c.on("error", () => {});
    return c;
  }

  private async onNode<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
    const c = this.adminOn(port);
    try {
      return await fn(c);
    } finally {
      c.disconnect();
    }
  }

  /** The nodes whose process runs. */
  private livePorts(): number[] {
    return this.ports.filter((p) => {
      const s = this.servers.get(p);
      return s && s.exitCode === null && s.signalCode === null;
    });
  }

  /** The masters, their replicas and slots, as a node that is up sees them now. */
  async shards(): Promise<Shard[]> {
    let lastError: unknown;
    for (const port of this.livePorts()) {
      try {
        const text = await this.onNode(port, (c) => c.call("CLUSTER", "NODES") as Promise<string>);
        const rows = text
          .trim()
          .split("\n")
          .map((l) => l.split(" "));
        const byId = new Map<string, Shard>();
        for (const r of rows) {
          const [id, addr, flags] = r as [string, string, string];
          if (!flags.includes("master") || flags.includes("fail")) continue;
          const slots: [number, number][] = r.slice(8).flatMap((s) => {
            const m = /^(\d+)(?:-(\d+))?$/.exec(s);
            return m ? [[Number(m[1]), Number(m[2] ?? m[1])] as [number, number]] : [];
          });
          if (slots.length) byId.set(id, { master: Number(addr.split(":")[1]?.split("@")[0]), replicas: [], slots });
        }
        for (const r of rows) {
          const [, addr, flags, masterId] = r as [string, string, string, string];
          const shard = byId.get(masterId);
          if (flags.includes("slave") && !flags.includes("fail") && shard) shard.replicas.push(Number(addr.split(":")[1]?.split("@")[0]));
        }
        return [...byId.values()];
      } catch (err) {
        lastError = err;
      }
    }
    throw new Error(`no cluster node answered CLUSTER NODES (${String(lastError)})`);
  }

  /** The shard (master, replicas) holding `key`'s slot, e.g. a prefix's `{tag}:x`. */
  async shardOf(key: string): Promise<Shard> {
    const slot = (await this.onNode(this.livePorts()[0] as number, (c) => c.call("CLUSTER", "KEYSLOT", key))) as number;
    const shard = (await this.shards()).find((s) => s.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!shard) throw new Error(`no master serves slot ${slot} of ${key}`);
    return shard;
  }

  /**
   * `CLUSTER FAILOVER` on a replica of the master holding `key`: the replica catches up with its
   * master, is promoted and takes the slots; the old master becomes its replica. Resolves with
   * the new master's port once every node that is up names it for the slot.
   */
  async failover(key: string, timeoutMs = 30_000): Promise<{ from: number; to: number }> {
    const shard = await this.shardOf(key);
    const to = shard.replicas[0];
    if (to === undefined) throw new Error(`master ${shard.master} has no replica to fail over to`);
    await this.onNode(to, (c) => c.call("CLUSTER", "FAILOVER"));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.shardOf(key).catch(() => undefined);
      if (now?.master === to) return { from: shard.master, to };
      if (Date.now() > deadline) throw new Error(`CLUSTER FAILOVER to ${to} did not finish within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** kill -9 of a node. */
  async kill(port: number): Promise<void> {
    const p = this.servers.get(port);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, "exit");
    p.kill("SIGKILL");
    await exited;
  }

  /** Resolves with the port of the master serving `key` once it is not `old` (an automatic failover). */
  async waitForNewMaster(key: string, old: number, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.shardOf(key).catch(() => undefined);
      if (now && now.master !== old) return now.master;
      if (Date.now() > deadline) throw new Error(`no replica took over ${key}'s slot from ${old} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  signal(port: number, signal: NodeJS.Signals): void {
    const p = this.servers.get(port);
    if (!p?.pid) throw new Error(`no redis-server on ${port}`);
    process.kill(p.pid, signal);
  }

  async remove(): Promise<void> {
    for (const p of this.servers.values()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      if (p.pid) process.kill(p.pid, "SIGCONT");
      const exited = once(p, "exit");
      p.kill("SIGKILL");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
