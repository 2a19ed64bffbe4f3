// The processes of bench:pipeline (Hoist's services, the reference's stages, a private Redis) and
// the HTTP client both sides are driven by.
import { type ChildProcess, fork, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, createWriteStream, openSync, readFileSync } from "node:fs";
import { Agent } from "node:http";
import { join } from "node:path";
import { passwordsIn } from "../../test/support/redis-acl.js";
import { freePort, post as postWith } from "../support/http.js";
import { adminRedisUrl, freshRedisUsers, type RedisUsers } from "../support/redis-users.js";
import type { ProcessMessage, StampRow } from "./reference-process.js";

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
export const killAll = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
};

const baseEnv = () => ({ PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" });

/** Starts a program, resolves once its output matches `ready`; from then on its output goes to `logFile`. */
export function startProcess(args: string[], env: Record<string, string>, ready: RegExp, logFile: string): Promise<ChildProcess> {
  const child = spawn(args[0] as string, args.slice(1), { env: { ...baseEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const log = createWriteStream(logFile);
  let out = "";
  let started = false;
  return new Promise((res, rej) => {
    const onData = (d: Buffer) => {
      log.write(d);
      if (started) return;
      out += d.toString();
      if (ready.test(out)) {
        started = true;
        res(child);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => rej(new Error(`${args.join(" ")} exited ${code}; see ${logFile}`)));
  });
}

/**
 * REDIS_URL (with the ACL users scripts/services-up.sh gave it), or a private redis-server for the
 * run (AOF everysec, noeviction, one ACL user per service, as production runs it).
 */
export async function redisUrl(dir: string): Promise<{ url: string; users: RedisUsers | undefined }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, users: passwordsIn(process.env) };
  const port = await freePort();
  const aclPath = join(dir, "users.acl");
  const users = freshRedisUsers(aclPath);
  await startProcess(
    [
      "redis-server",
      ...["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "yes"],
      ...["--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--dir", dir, "--aclfile", aclPath],
    ],
    {},
    /Ready to accept/,
    join(dir, "redis.log"),
  );
  return { url: adminRedisUrl("127.0.0.1", port, users), users };
}

/** A forked process that reports stamps, `ready` and `report` over IPC (service-process.mjs, reference-process.ts). */
export interface Forked {
  name: string;
  child: ChildProcess;
  url?: string;
  /** Flushes its stamps, then SIGTERM: it shuts down its own way. */
  stop: () => Promise<void>;
}

export async function forkReporting(
  name: string,
  module: string,
  opts: { execArgv: string[]; env: Record<string, string>; logFile: string; onStamps: (rows: StampRow[]) => void },
): Promise<Forked> {
  const fd = openSync(opts.logFile, "a");
  const child = fork(module, [], { execArgv: opts.execArgv, env: { ...baseEnv(), ...opts.env }, stdio: ["ignore", fd, fd, "ipc"] });
  closeSync(fd);
  children.push(child);
  let reported!: () => void;
  const report = new Promise<void>((r) => {
    reported = r;
  });
  const exited = once(child, "exit");
  const ready = new Promise<{ url?: string }>((res, rej) => {
    child.on("message", (m: ProcessMessage) => {
      if (m.t === "ready") res(m.url ? { url: m.url } : {});
      else if (m.t === "stamps") opts.onStamps(m.rows);
      else if (m.t === "report") reported();
    });
    child.once("exit", (code) => rej(new Error(`${name} exited ${code} before it was ready; see ${opts.logFile}`)));
  });
  const info = await ready;
  return {
    name,
    child,
    ...info,
    stop: async () => {
      child.send({ t: "report" });
      await report;
      child.kill("SIGTERM");
      const [code] = await exited;
      if (code !== 0 && code !== 143) throw new Error(`${name} exited ${code} on SIGTERM; see ${opts.logFile}`);
    },
  };
}

/** CPU time (user + system) a process has used so far, from /proc (clock ticks of 10 ms). */
export function cpuMsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8")
    .replace(/^.*\) /, "")
    .split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

let agent = new Agent({ keepAlive: true, maxSockets: 256 });
/**
 * A new keep-alive agent for each slice: a socket left idle while the other side was measured
 * may be closed by its server (keep-alive timeout) just as it is reused, an ECONNRESET.
 */
export function freshAgent(): void {
  agent.destroy();
  agent = new Agent({ keepAlive: true, maxSockets: 256 });
}
export const post = (url: string, headers: Record<string, string>, body: string) => postWith(agent, url, headers, body);
