import { hostname } from "node:os";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { z } from "zod";
import { recordKeys } from "../records/keys.js";

/** Something a worker needs besides Redis (the Docker API, a registry): probed, never fatal. */
export interface DependencyProbe {
  name: string;
  /** Where it is expected (a socket path, host:port), for messages. */
  where: string;
  /** Resolves when the dependency answers; rejects with why not. */
  check: (signal: AbortSignal) => Promise<unknown>;
}

const dependencyStateSchema = z.object({
  name: z.string(),
  where: z.string(),
  ok: z.boolean(),
  /** "<name> unreachable at <where>: <why>" while down. */
  reason: z.string().optional(),
  /** When the state last changed (ISO). */
  since: z.string(),
});
export type DependencyState = z.infer<typeof dependencyStateSchema>;

const dependencyReportSchema = z.object({
  service: z.string(),
  instance: z.string(),
  /** When the report was written (ISO); reports older than three intervals are stale. */
  at: z.string(),
  staleAfterMs: z.number(),
  dependencies: z.array(dependencyStateSchema),
});
export type DependencyReport = z.infer<typeof dependencyReportSchema>;

/** One Redis hash per queue prefix: a field per worker process, read by the dashboard. */
export const dependencyReportsKey = (prefix: string) => recordKeys(prefix).dependencyReports;

function why(err: unknown): string {
  // fetch wraps the socket's error ("fetch failed"): the cause says what happened.
  const outer = err as { message?: string; cause?: unknown } | undefined;
  const e = (outer?.cause instanceof Error ? outer.cause : outer) as { message?: string; code?: string } | undefined;
  const text = (e?.message ?? String(err)).split(/\r?\n/)[0]?.trim() ?? "";
  return text || e?.code || "no answer";
}

/**
 * Probes a worker's dependencies every `intervalMs`, logs each change once ("docker unreachable
 * at …" / "docker reachable again"), and publishes the states to Redis for the dashboard.
 * A dependency being down fails the jobs that need it, never the process.
 */
export class DependencyMonitor {
  private readonly states = new Map<string, DependencyState>();
  private timer: NodeJS.Timeout | undefined;
  private readonly instance = `${hostname()}:${process.pid}`;
  private running: Promise<void> | undefined;

  constructor(
    private readonly probes: DependencyProbe[],
    private readonly opts: {
      service: string;
      log: Logger;
      intervalMs: number;
      timeoutMs?: number;
      redis?: Redis;
      prefix?: string;
    },
  ) {}

  /** Probes once now (so /healthz is right from the first request), then on every interval. */
  async start(): Promise<void> {
    await this.probeAll();
    this.timer = setInterval(() => {
      this.running ??= this.probeAll().finally(() => {
        this.running = undefined;
      });
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    const { redis, prefix } = this.opts;
    if (redis && prefix) await redis.hdel(dependencyReportsKey(prefix), `${this.opts.service}@${this.instance}`).catch(() => 0);
  }

  list(): DependencyState[] {
    return [...this.states.values()];
  }

  /** Down dependencies, as one line (undefined when all answer). */
  downReason(): string | undefined {
    const down = this.list().filter((d) => !d.ok);
    return down.length ? down.map((d) => d.reason).join("; ") : undefined;
  }

  async probeAll(): Promise<void> {
    await Promise.all(this.probes.map((p) => this.probe(p)));
    await this.publish();
  }

  private async probe(p: DependencyProbe): Promise<void> {
    let reason: string | undefined;
    try {
      await p.check(AbortSignal.timeout(this.opts.timeoutMs ?? 3_000));
    } catch (err) {
      reason = `${p.name} unreachable at ${p.where}: ${why(err)}`;
    }
    const before = this.states.get(p.name);
    const ok = reason === undefined;
    if (before && before.ok === ok && before.reason === reason) return;
    this.states.set(p.name, {
      name: p.name,
      where: p.where,
      ok,
      ...(reason ? { reason } : {}),
      since: new Date().toISOString(),
    });
    if (!ok)
      this.opts.log.warn({ dependency: p.name, where: p.where, reason }, `${p.name} is down; jobs that need it fail until it is back`);
    else if (before) this.opts.log.info({ dependency: p.name, where: p.where }, `${p.name} reachable again`);
  }

  private async publish(): Promise<void> {
    const { redis, prefix, service, intervalMs } = this.opts;
    if (!redis || !prefix) return;
    const report: DependencyReport = {
      service,
      instance: this.instance,
      at: new Date().toISOString(),
      staleAfterMs: intervalMs * 3,
      dependencies: this.list(),
    };
    await redis.hset(dependencyReportsKey(prefix), `${service}@${this.instance}`, JSON.stringify(report)).catch(() => 0);
  }
}

/**
 * A worker's dependency checks, started (one probe at once, so /healthz is right from the first
 * request) and stopped with the process; reports go to Redis beside the worker's queues.
 */
export async function startDependencyChecks(opts: {
  service: string;
  probes: DependencyProbe[];
  config: { HOIST_DEPENDENCY_CHECK_MS: number; HOIST_QUEUE_PREFIX: string };
  log: Logger;
  redis: Redis;
  shutdown: { register(name: string, close: () => Promise<unknown>): void };
}): Promise<DependencyMonitor> {
  const monitor = new DependencyMonitor(opts.probes, {
    service: opts.service,
    log: opts.log,
    intervalMs: opts.config.HOIST_DEPENDENCY_CHECK_MS,
    redis: opts.redis,
    prefix: opts.config.HOIST_QUEUE_PREFIX,
  });
  await monitor.start();
  opts.shutdown.register("dependency checks", () => monitor.stop());
  return monitor;
}

/** Reports of live worker processes (stale ones, from processes gone, are dropped). */
export async function readDependencyReports(redis: Redis, prefix: string, now = Date.now()): Promise<DependencyReport[]> {
  const raw = await redis.hgetall(dependencyReportsKey(prefix));
  const out: DependencyReport[] = [];
  const stale: string[] = [];
  for (const [field, text] of Object.entries(raw)) {
    let parsed: DependencyReport | undefined;
    try {
      const r = dependencyReportSchema.safeParse(JSON.parse(text));
      if (r.success) parsed = r.data;
    } catch {
      // unreadable: dropped below like a stale one
    }
    if (!parsed || now - Date.parse(parsed.at) > parsed.staleAfterMs) stale.push(field);
    else out.push(parsed);
  }
  if (stale.length) await redis.hdel(dependencyReportsKey(prefix), ...stale);
  return out.sort((a, b) => (a.service + a.instance < b.service + b.instance ? -1 : 1));
}

/** An HTTP(S) endpoint that counts as up when it answers at all (a registry's /v2/ answers 401 without credentials). */
export function httpProbe(name: string, url: string): DependencyProbe {
  return {
    name,
    where: new URL(url).host,
    check: async (signal) => {
      const res = await fetch(url, { signal, redirect: "manual" });
      await res.body?.cancel();
    },
  };
}

/** The part of a dockerode client the probe needs (shared has no dockerode of its own). */
interface EngineClient {
  modem: unknown;
  ping(opts: { abortSignal: AbortSignal }): Promise<unknown>;
}

/** Where a Docker API client connects, as reasons name it: the socket path or host:port. */
export function dockerEndpoint(docker: EngineClient): string {
  const m = docker.modem as { socketPath?: string; host?: string; port?: number | string };
  return m.socketPath ? m.socketPath : `${m.host ?? "localhost"}:${m.port ?? 2375}`;
}

/** The Docker Engine API (or podman's) as a dependency: up when `/_ping` answers. */
export function dockerProbe(docker: EngineClient): DependencyProbe {
  return { name: "docker", where: dockerEndpoint(docker), check: (signal) => docker.ping({ abortSignal: signal }) };
}
