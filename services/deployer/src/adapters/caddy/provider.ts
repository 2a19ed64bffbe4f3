import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import type { Logger } from "@hoist/shared";
import { PermanentDeployError } from "../../domain/target.js";
import { CaddyEdge } from "./caddy-edge.js";

/** Says how to get Caddy, as the error of a local-target deploy without it. */
const CADDY_MISSING =
  "the local target serves apps through Caddy, and this deployer has none: install Debian's `caddy` package (apt-get install caddy) so the deployer starts one on loopback, or set HOIST_CADDY_ADMIN_URL to the admin endpoint of a running Caddy 2";

/** Where the deployer's Caddy comes from: HOIST_CADDY_ADMIN_URL's, or one it starts itself. */
export interface EdgeProvider {
  /** The edge; throws PermanentDeployError (naming the `caddy` package) when there is no Caddy. */
  edge(): Promise<CaddyEdge>;
  close(): Promise<void>;
}

/** `caddy` on PATH, or undefined. */
export function findCaddy(path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const bin = join(dir, "caddy");
    try {
      accessSync(bin, constants.X_OK);
      return bin;
    } catch {}
  }
  return undefined;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/config/`, { signal: AbortSignal.timeout(1000) });
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Starts `caddy run` with an empty config and its admin endpoint on a free 127.0.0.1 port. It runs under
 * a shell that waits on its stdin (a pipe from this process): when the deployer dies, even by SIGKILL,
 * the pipe closes and the shell stops Caddy, so no orphan keeps the apps' ports.
 */
async function startOwnCaddy(bin: string, log?: Logger): Promise<{ adminUrl: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "hoist-deployer-caddy-"));
  const adminPort = await freeLoopbackPort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const config = join(dir, "caddy.json");
  writeFileSync(
    config,
    JSON.stringify({
      admin: { listen: `127.0.0.1:${adminPort}`, config: { persist: false } },
      storage: { module: "file_system", root: join(dir, "data") },
      logging: { logs: { default: { level: "WARN" } } },
      apps: { pki: { certificate_authorities: { local: { install_trust: false } } } },
    }),
  );
  const child: ChildProcess = spawn(
    "/bin/sh",
    ["-c", `"$0" run --config "$1" <&- & c=$!; read -r _; kill -TERM $c; wait $c`, bin, config],
    {
      env: { PATH: process.env.PATH ?? "", HOME: dir, XDG_DATA_HOME: join(dir, "xdg-data"), XDG_CONFIG_HOME: join(dir, "xdg-config") },
      stdio: ["pipe", "ignore", "pipe"],
    },
  );
  const lines: string[] = [];
  child.stderr?.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean).slice(-20)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const deadline = Date.now() + 15_000;
  while (!(await answers(adminUrl))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${bin} did not start (admin endpoint ${adminUrl}): ${lines.slice(-5).join(" | ")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  log?.info({ adminUrl, bin }, "caddy: started the deployer's own Caddy on loopback");
  return {
    adminUrl,
    async stop() {
      child.stdin?.end();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** HOIST_CADDY_ADMIN_URL's Caddy when set; else the deployer's own, started on first use when `caddy` is installed. */
export function caddyEdgeProvider(opts: {
  adminUrl?: string | undefined;
  caddyBin?: string | undefined;
  /** Where to look for `caddy` (default: PATH). */
  searchPath?: string;
  /** Where host routes are served (default :443). */
  hostsListen?: string[];
  /** Host routes as plain HTTP (HOIST_CADDY_HOSTS_HTTP). */
  hostsHttp?: boolean;
  log?: Logger;
}): EdgeProvider {
  let edge: Promise<CaddyEdge> | undefined;
  let own: { stop(): Promise<void> } | undefined;
  const make = async (): Promise<CaddyEdge> => {
    const logger = {
      ...(opts.log ? { logger: opts.log } : {}),
      ...(opts.hostsListen ? { hostsListen: opts.hostsListen } : {}),
      ...(opts.hostsHttp ? { hostsHttp: true } : {}),
    };
    if (opts.adminUrl) return new CaddyEdge({ adminUrl: opts.adminUrl, ...logger });
    const bin = opts.caddyBin ?? findCaddy(opts.searchPath);
    if (!bin) throw new PermanentDeployError(CADDY_MISSING);
    const started = await startOwnCaddy(bin, opts.log);
    own = started;
    return new CaddyEdge({ adminUrl: started.adminUrl, ...logger });
  };
  return {
    edge() {
      edge ??= make().catch((err: unknown) => {
        edge = undefined;
        throw err;
      });
      return edge;
    },
    async close() {
      const e = await edge?.catch(() => undefined);
      await e?.close();
      await own?.stop();
    },
  };
}
