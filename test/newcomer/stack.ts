import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { createInterface } from "node:readline";
import { repoRoot } from "../support/processes.js";

/** `pnpm start` as a newcomer runs it in a terminal, with its output kept for assertions. */
export interface Stack {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first output line matching `re` (already seen ones count). */
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
  /** pnpm's exit, once `pnpm start` has stopped too (the output closed). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ctrl-C as a terminal sends it: SIGINT to the foreground process group (pnpm's). */
  interrupt(): void;
  /** Each service's pid, as `pnpm start` said when it started it. */
  pids(): Map<string, number>;
  /** Output lines of one service (the part after its `name |` prefix). */
  of(service: string): string[];
}

/** Runs `pnpm start` in the checkout, in a process group of its own (as a terminal's foreground job). */
export function startStack(env: Record<string, string>): Stack {
  const child = spawn("pnpm", ["start"], { cwd: repoRoot, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const closed: Promise<void>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    const rl = createInterface({ input: stream });
    closed.push(new Promise((r) => rl.once("close", () => r())));
    rl.on("line", (line) => {
      lines.push(line);
      if (process.env.HOIST_TEST_VERBOSE) process.stdout.write(`${line}\n`);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
  }
  // Done when pnpm has exited and its output is closed: pnpm dies of a terminal's SIGINT at once,
  // while pnpm start (which writes to the same output) is still stopping the stack.
  const pnpmExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once("exit", (code, signal) => res({ code, signal })),
  );
  const exited = Promise.all([pnpmExit, ...closed]).then(([e]) => e);
  const of = (service: string) =>
    lines.filter((l) => l.startsWith(`${service.padEnd(8)} |`)).map((l) => l.slice(service.padEnd(8).length + 2).trim());
  return {
    child,
    lines,
    exited,
    of,
    waitFor(re, timeoutMs) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`pnpm start: no line matching ${re} within ${timeoutMs} ms:\n${lines.slice(-60).join("\n")}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(({ code }) => {
          clearTimeout(timer);
          reject(new Error(`pnpm start exited (${code}) before printing ${re}:\n${lines.slice(-60).join("\n")}`));
        });
      });
    },
    interrupt() {
      if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGINT");
      } catch {
        // the group is gone already
      }
    },
    pids() {
      const out = new Map<string, number>();
      for (const l of lines) {
        const m = /^start {4}\| (api|builder|deployer|notifier) started \(pid (\d+)\)$/.exec(l);
        if (m) out.set(m[1] as string, Number(m[2]));
      }
      return out;
    },
  };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The environment a fresh machine's shell has: no Hoist variables, none of the test run's services. */
export function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...extra };
}

export function parseHealthPorts(stack: Stack): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of stack.lines) {
    const m = /(\w+) health: http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(l);
    if (m) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/**
 * One request on a connection of its own: the stack's servers close idle keep-alive sockets
 * after 5 s, and a pooled fetch reusing one just then fails with "other side closed".
 */
export function httpJson(
  method: string,
  url: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(
      url,
      { method, agent: false, headers: { ...opts.headers, ...(payload ? { "content-type": "application/json" } : {}) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`${method} ${url}: ${res.statusCode} ${text.slice(0, 300)}`));
          }
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}
