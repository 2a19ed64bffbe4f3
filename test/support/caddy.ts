import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./net.js";

export const CADDY_BIN = process.env.HOIST_CADDY_BIN ?? "/usr/bin/caddy";

export interface CaddyProcess {
  adminUrl: string;
  /** Temp dir holding Caddy's storage (so the internal CA is this Caddy's own), HOME and autosave. */
  dir: string;
  log: string[];
  /** Graceful stop (SIGTERM), waits for the exit. */
  stop(): Promise<void>;
  /** kill -9, as a crash. */
  kill(): Promise<void>;
}

async function adminAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/config/`, { signal: AbortSignal.timeout(1000) });
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * A real `caddy run` on loopback with an empty config but its admin endpoint on a free 127.0.0.1 port,
 * storage and autosave in a temp dir, and no --resume: every start is empty, as after a crash.
 * Pass `dir` to restart a Caddy in the same storage (same internal CA), `adminPort` to keep its admin URL.
 */
export async function startCaddy(opts: { dir?: string; timeoutMs?: number; adminPort?: number } = {}): Promise<CaddyProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "hoist-caddy-"));
  const adminPort = opts.adminPort ?? (await freePort());
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const config = join(dir, "caddy.json");
  writeFileSync(
    config,
    JSON.stringify({
      admin: { listen: `127.0.0.1:${adminPort}`, config: { persist: false } },
      storage: { module: "file_system", root: join(dir, "data") },
      logging: { logs: { default: { level: "WARN" } } },
      // Never let a test Caddy install its root CA into this machine's trust store (its default).
      apps: { pki: { certificate_authorities: { local: { install_trust: false } } } },
    }),
  );
  const child: ChildProcess = spawn(CADDY_BIN, ["run", "--config", config], {
    env: { PATH: process.env.PATH ?? "", HOME: dir, XDG_DATA_HOME: join(dir, "xdg-data"), XDG_CONFIG_HOME: join(dir, "xdg-config") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  for (const s of [child.stdout, child.stderr]) s?.on("data", (d: Buffer) => log.push(...d.toString().split("\n").filter(Boolean)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let spawnError: Error | undefined;
  child.once("error", (e) => {
    spawnError = e;
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (!(await adminAnswers(adminUrl))) {
    if (spawnError) throw new Error(`cannot start ${CADDY_BIN} (${spawnError.message}): apt-get install -y caddy`);
    if (child.exitCode !== null) throw new Error(`caddy exited (${child.exitCode}) before its admin endpoint answered:\n${log.join("\n")}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`caddy's admin endpoint ${adminUrl} did not answer within ${opts.timeoutMs ?? 15_000} ms:\n${log.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    adminUrl,
    dir,
    log,
    stop: () => end("SIGTERM"),
    kill: () => end("SIGKILL"),
  };
}

export function removeCaddyDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface Upstream {
  name: string;
  address: string;
  /** Requests this upstream answered. */
  served: number;
  /** Requests it is handling right now. */
  active: number;
  close(): Promise<void>;
  /** Resolves when the next request arrives (e.g. a slow one is in flight here). */
  nextRequest(): Promise<void>;
}

/**
 * A small HTTP app on a free 127.0.0.1 port answering its name; `/slow?ms=N` answers after N ms and
 * `/health` answers 200 (or 503 once `healthy` is false).
 */
export async function startUpstream(name: string): Promise<Upstream & { healthy: boolean }> {
  const port = await freePort();
  const waiters: (() => void)[] = [];
  const u = {
    name,
    address: `127.0.0.1:${port}`,
    served: 0,
    active: 0,
    healthy: true,
    server: undefined as unknown as Server,
    close: () =>
      new Promise<void>((r) => {
        u.server.closeAllConnections();
        u.server.close(() => r());
      }),
    nextRequest: () => new Promise<void>((r) => waiters.push(r)),
  };
  u.server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/health") {
      res.statusCode = u.healthy ? 200 : 503;
      res.end(u.healthy ? "ok" : "unhealthy");
      return;
    }
    u.active++;
    for (const w of waiters.splice(0)) w();
    const delay = url.pathname === "/slow" ? Number(url.searchParams.get("ms") ?? 1000) : 0;
    const done = () => {
      u.active--;
      u.served++;
      res.setHeader("x-forwarded-proto-seen", String(req.headers["x-forwarded-proto"] ?? ""));
      res.end(name);
    };
    if (delay > 0) setTimeout(done, delay);
    else done();
  });
  await new Promise<void>((r) => u.server.listen(port, "127.0.0.1", () => r()));
  return u;
}

/** Errors of a request whose connection was closed before any response byte (undici, Node). */
const RETRIED_CODES = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

export interface LoadResult {
  total: number;
  /** Requests that got no 200 even after the one retry an idempotent GET is allowed. */
  failed: { status?: number; error?: string; start: number; path: string }[];
  /** Connection errors (no response) that the retry covered. */
  retried: number;
  answers: { start: number; end: number; body: string; path: string }[];
}

/**
 * GETs at `perSecond` through `url` until stop() (keep-alive, as a browser or service client would),
 * one in `slowEvery` to `/slow?ms=slowMs`. A GET that fails with no response at all is retried once as browsers and Go's client do for idempotent requests (RFC 9110 9.2.2).
 */
export function loadLoop(
  url: string,
  opts: {
    perSecond: number;
    slowEvery: number;
    slowMs: number;
    /** Paths of a fast and a slow request (default `/fast?i=<n>` and `/slow?ms=<slowMs>`, startUpstream's). */
    paths?: { fast: (i: number) => string; slow: string };
  },
) {
  const result: LoadResult = { total: 0, failed: [], retried: 0, answers: [] };
  const pending = new Set<Promise<void>>();
  let stopped = false;
  const one = async (path: string) => {
    const start = performance.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(`${url}${path}`);
        const body = await res.text();
        if (res.status !== 200) result.failed.push({ status: res.status, start, path });
        else result.answers.push({ start, end: performance.now(), body, path });
        return;
      } catch (err) {
        // Only a connection closed under the request (no response at all) is retried, as HTTP clients do.
        const code = String((err as { cause?: { code?: string } }).cause?.code ?? "");
        if (attempt === 1 && RETRIED_CODES.has(code)) {
          result.retried++;
          continue;
        }
        result.failed.push({ error: String((err as { cause?: { code?: string } }).cause?.code ?? err), start, path });
        return;
      }
    }
  };
  const loop = (async () => {
    const t0 = performance.now();
    for (let i = 1; !stopped; i++) {
      result.total++;
      const slow = opts.paths?.slow ?? `/slow?ms=${opts.slowMs}`;
      const p = one(i % opts.slowEvery === 0 ? slow : (opts.paths?.fast(i) ?? `/fast?i=${i}`));
      pending.add(p);
      void p.finally(() => pending.delete(p));
      const wait = t0 + (i * 1000) / opts.perSecond - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    result,
    async stop(): Promise<LoadResult> {
      stopped = true;
      await loop;
      await Promise.all([...pending]);
      return result;
    },
  };
}
