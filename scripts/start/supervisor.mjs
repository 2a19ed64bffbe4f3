// Runs the stack's processes and stops them once each. pnpm 12 runs `pnpm start` in a process
// group of its own and forwards signals to it, and a terminal's Ctrl-C goes to the foreground
// group: children in our group would get the signal twice (pnpm's or the terminal's, then ours)
// and skip their graceful shutdown ("second signal, exiting now"). So every child gets a group
// of its own (detached) and exactly one forwarded signal from here.
import { spawn } from "node:child_process";
import { pipeLines, say } from "./output.mjs";

export class Supervisor {
  children = new Map();
  /** Closers for what is not a child process (private podman, registry), run after the children stopped. */
  cleanups = [];
  stopping = false;
  /** One-shot commands still running (services-up.sh): waited for before the cleanups, or their daemons would outlive us. */
  pending = new Set();

  /** Spawns a long-running process in its own process group, with prefixed output. */
  run(name, command, args, { env, onLine, onExit } = {}) {
    const child = spawn(command, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.children.set(name, child);
    say("start", `${name} started (pid ${child.pid})`);
    pipeLines(name, child, onLine);
    child.on("exit", (code, signal) => onExit?.(code, signal));
    return child;
  }

  /** Runs the build with the terminal's output (turbo's progress), stoppable like the services; resolves to its exit code. */
  build(command, args, cwd) {
    return new Promise((ok) => {
      const child = spawn(command, args, { cwd, detached: true, stdio: ["ignore", "inherit", "inherit"] });
      child.wholeGroup = true;
      this.children.set("build", child);
      child.on("error", () => ok(127));
      child.on("exit", (code) => {
        this.children.delete("build");
        ok(code ?? 1);
      });
    });
  }

  /** Runs a command to its end in its own group (daemons it leaves behind stay out of Ctrl-C's reach too). */
  oneShot(name, command, args, { env } = {}) {
    const done = new Promise((ok) => {
      const child = spawn(command, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      pipeLines(name, { stderr: child.stderr });
      child.on("error", (err) => ok({ code: 127, out, error: err.message }));
      child.on("exit", (code) => ok({ code, out }));
    });
    this.pending.add(done);
    void done.then(() => this.pending.delete(done));
    return done;
  }

  /** Sends `signal` to each running child once, waits for all, then runs the cleanups (newest first). */
  async stopAll(signal) {
    if (this.stopping) {
      // A second Ctrl-C: pass it on, and the services exit without waiting for their work.
      for (const child of this.running()) signalGroup(child, signal);
      return;
    }
    this.stopping = true;
    const services = [...this.children.entries()].filter(([name]) => name !== "redis");
    await Promise.all(services.map(([, child]) => this.stopOne(child, signal)));
    // Redis last: the services close their connections to it on the way out.
    const redis = this.children.get("redis");
    if (redis) await this.stopOne(redis, "SIGTERM");
    await Promise.all(this.pending);
    for (const cleanup of this.cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        say("start", `cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  running() {
    return [...this.children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
  }

  stopOne(child, signal) {
    return new Promise((ok) => {
      if (child.exitCode !== null || child.signalCode !== null) return ok();
      child.once("exit", () => ok());
      signalGroup(child, signal);
    });
  }
}

/**
 * The build's whole process group (turbo's native binary and its tsc runs stop with it); a
 * service only itself, as it stops what it runs (a build's git, say) on its own terms.
 */
function signalGroup(child, signal) {
  try {
    if (child.wholeGroup) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    child.kill(signal);
  }
}
