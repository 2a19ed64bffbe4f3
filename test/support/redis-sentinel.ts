import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { suiteAcl } from "./redis-acl.js";

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A line a Sentinel logged, with the time it was read. */
interface SentinelEvent {
  at: number;
  sentinel: number;
  line: string;
}

/** The master's name the Sentinels monitor. */
export const SENTINEL_NAME = "hoist";
/** The Sentinels' own password (their requirepass), distinct from the servers' users. */
export const SENTINEL_PASSWORD = "sentinel-password-0123456789";

/**
 * Real redis-server processes (a master and `replicas` replicas, with the suite's ACL users and
 * AOF) watched by three real redis-sentinel processes (quorum 2, with a password of their own),
 * on loopback. Servers can be killed, frozen (SIGSTOP), thawed and started again on their port.
 */
export class SentinelSet {
  readonly dir = mkdtempSync(join(tmpdir(), "hoist-sentinel-"));
  readonly servers = new Map<number, ChildProcess>();
  readonly sentinels: { port: number; proc: ChildProcess }[] = [];
  /** Every line the Sentinels logged (`+sdown`, `+odown`, `+switch-master`, ...). */
  readonly events: SentinelEvent[] = [];
  private readonly waiters: { match: RegExp; resolve: (e: SentinelEvent) => void }[] = [];
  private serverArgs: string[] = [];
  private adminPassword: string | undefined;
  /** The suite's admin URL; its host is not used when Sentinel finds the master. */
  adminUrl = "";
  ports: number[] = [];

  constructor(readonly opts: { replicas?: number; downAfterMs?: number } = {}) {}

  get downAfterMs(): number {
    return this.opts.downAfterMs ?? 2_000;
  }

  /** REDIS_SENTINELS for the services. */
  get sentinelList(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(",");
  }

  async start(): Promise<void> {
    const count = 1 + (this.opts.replicas ?? 1);
    for (let i = 0; i < count; i++) this.ports.push(await freePort());
    const acl = suiteAcl(this.dir, this.ports[0] as number);
    this.adminUrl = acl.url;
    const pw = new URL(acl.url).password;
    this.adminPassword = pw ? decodeURIComponent(pw) : undefined;
    const auth = this.adminPassword ? ["--masterauth", this.adminPassword] : [];
    this.serverArgs = [...acl.args, ...auth, "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"];
    const [master, ...replicas] = this.ports as [number, ...number[]];
    await this.startServer(master);
    for (const r of replicas) await this.startServer(r, master);
    for (let i = 0; i < 3; i++) await this.startSentinel(i, master);
    // Ready once every Sentinel knows the replicas and the other Sentinels.
    const deadline = Date.now() + 30_000;
    for (const s of this.sentinels) {
      const c = this.sentinelClient(s.port);
      try {
        for (;;) {
          const info = (await c.call("SENTINEL", "MASTER", SENTINEL_NAME)) as string[];
          const field = (k: string) => Number(info[info.indexOf(k) + 1]);
          if (field("num-slaves") >= replicas.length && field("num-other-sentinels") >= 2) break;
          if (Date.now() > deadline) throw new Error(`Sentinel ${s.port} did not see the replicas and the other Sentinels in 30 s`);
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        c.disconnect();
      }
    }
  }

  /** Starts redis-server on `port` (again, with its AOF, after a kill), optionally as a replica of `of`. */
  async startServer(port: number, of?: number): Promise<void> {
    const args = ["--bind", "127.0.0.1", "--port", String(port), "--dir", this.dir, "--appenddirname", `aof-${port}`, "--save", ""];
    args.push("--dbfilename", `dump-${port}.rdb`, ...this.serverArgs);
    if (of !== undefined) args.push("--replicaof", "127.0.0.1", String(of));
    if (this.adminPassword) args.push("--masteruser", "default");
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

  private async startSentinel(i: number, master: number): Promise<void> {
    const port = await freePort();
    const conf = join(this.dir, `sentinel-${i}.conf`);
    const lines = [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${this.dir}`,
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${master} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} ${this.downAfterMs}`,
      `sentinel failover-timeout ${SENTINEL_NAME} 10000`,
      `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
      `requirepass ${SENTINEL_PASSWORD}`,
      `sentinel sentinel-pass ${SENTINEL_PASSWORD}`,
      ...(this.adminPassword ? [`sentinel auth-pass ${SENTINEL_NAME} ${this.adminPassword}`] : []),
    ];
    writeFileSync(conf, `${lines.join("\n")}\n`, { mode: 0o600 });
    const proc = spawn("redis-sentinel", [conf], { stdio: ["ignore", "pipe", "inherit"] });
    this.sentinels.push({ port, proc });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-sentinel ${port} did not start in 10 s`)), 10_000);
      proc.once("exit", (code) => reject(new Error(`redis-sentinel ${port} exited (${code})`)));
      createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        if (/Sentinel ID is/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
        const e = { at: Date.now(), sentinel: port, line };
        this.events.push(e);
        for (const w of [...this.waiters])
          if (w.match.test(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(e);
          }
      });
    });
    await ready;
  }

  /** Resolves with the next Sentinel line matching `match` (logged from now on). */
  next(match: RegExp, timeoutMs = 60_000): Promise<SentinelEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no Sentinel logged ${match} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  /** The next `+switch-master`: the new master's port, and when the first Sentinel announced it. */
  async nextSwitch(timeoutMs = 60_000): Promise<{ at: number; port: number }> {
    const e = await this.next(/\+switch-master /, timeoutMs);
    const m = /\+switch-master \S+ \S+ \d+ \S+ (\d+)/.exec(e.line);
    return { at: e.at, port: Number(m?.[1]) };
  }

  sentinelClient(port = this.sentinels[0]?.port as number): Redis {
    const c = new Redis({ host: "127.0.0.1", port, password: SENTINEL_PASSWORD, maxRetriesPerRequest: 1, lazyConnect: false });
    c.on("error", () => {});
    return c;
  }

  /** The master's port as the Sentinels have it now. */
  async masterPort(): Promise<number> {
    const c = this.sentinelClient();
    try {
      const addr = (await c.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_NAME)) as [string, string];
      return Number(addr[1]);
    } finally {
      c.disconnect();
    }
  }

  /** SENTINEL FAILOVER: an operator's planned switch (the master is demoted, a replica promoted). */
  async failover(): Promise<void> {
    const c = this.sentinelClient();
    try {
      await c.call("SENTINEL", "FAILOVER", SENTINEL_NAME);
    } finally {
      c.disconnect();
    }
  }

  signal(port: number, signal: NodeJS.Signals): void {
    const p = this.servers.get(port);
    if (!p?.pid) throw new Error(`no redis-server on ${port}`);
    process.kill(p.pid, signal);
  }

  async kill(port: number): Promise<void> {
    const p = this.servers.get(port);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, "exit");
    p.kill("SIGKILL");
    await exited;
  }

  /** A client as the suite's admin on a server (no Sentinel): to look at one server alone. */
  adminOn(port: number): Redis {
    const c = new Redis(port, "127.0.0.1", {
      ...(this.adminPassword ? { password: this.adminPassword } : {}),
      maxRetriesPerRequest: 1,
      lazyConnect: false,
    });
    c.on("error", () => {});
    return c;
  }

  async remove(): Promise<void> {
    const all = [...this.servers.values(), ...this.sentinels.map((s) => s.proc)];
    for (const p of all) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      if (p.pid) process.kill(p.pid, "SIGCONT");
      const exited = once(p, "exit");
      p.kill("SIGKILL");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
