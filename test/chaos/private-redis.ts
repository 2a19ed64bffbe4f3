import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suiteAcl } from "../support/redis-acl.js";

export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * A redis-server of the scenario's own (the shared one must stay up for the other tests), with
 * the production settings that matter here: AOF fsynced every second, no eviction. It can be
 * stopped and started again on the same port and data dir. It has the suite's ACL users (its
 * `url` is the admin's; services started on it run as their own users).
 */
export class PrivateRedis {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), "hoist-chaos-redis-"));
  private readonly acl: { args: string[]; url: string };
  constructor(readonly port: number) {
    this.acl = suiteAcl(this.dir, port);
  }

  get url(): string {
    return this.acl.url;
  }

  async start(): Promise<void> {
    const args = ["--bind", "127.0.0.1", "--port", String(this.port), "--dir", this.dir, "--save", "", ...this.acl.args];
    args.push("--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction");
    const proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "inherit"] });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("redis-server did not start within 10 s")), 10_000);
      proc.stdout?.on("data", (d: Buffer) => {
        if (/Ready to accept connections/.test(d.toString())) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("exit", (code) => reject(new Error(`redis-server exited (${code})`)));
    });
  }

  /** SIGTERM: Redis fsyncs the AOF and exits, as a restart by an operator or a supervisor does. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, "exit");
    p.kill(signal);
    await exited;
  }

  async remove(): Promise<void> {
    await this.stop("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}
