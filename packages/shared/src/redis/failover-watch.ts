import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { RedisTarget } from "./target.js";

/** The Sentinel events (their pub/sub channels) that open and close a failover of a master. */
const OPEN = ["+sdown", "+odown", "+try-failover"] as const;
const CLOSE = [
  "+switch-master",
  "-sdown",
  "-odown",
  "-failover-abort-not-elected",
  "-failover-abort-no-good-slave",
  "-failover-abort-slave-timeout",
];

/**
 * Listens to every Sentinel for a failover of Hoist's master: from the moment one Sentinel finds
 * the master down (`+sdown`) or starts a failover (`+try-failover`, also SENTINEL FAILOVER) until
 * a new master is announced (`+switch-master`) or the master is back, `inProgress()` is true.
 *
 * Producers answer 503 at once meanwhile instead of writing to a master that is frozen (each
 * request would wait for the socket timeout) or being demoted: what a master takes between a
 * replica's promotion and the switch is dropped when it becomes a replica, so a webhook answered
 * 202 then would be lost. Every Sentinel is listened to, as the one leading the failover
 * announces its steps on its own channel first.
 */
export class FailoverWatch {
  private readonly clients: Redis[] = [];
  /** Which Sentinels (by index) see the master in trouble now. */
  private readonly open = new Set<number>();
  private since: number | undefined;
  private failovers = 0;

  constructor(
    target: Extract<RedisTarget, { kind: "sentinel" }>,
    private readonly log: Logger,
    /** A failover that never finishes stops counting after this (Sentinel's failover-timeout is 3 min by default). */
    private readonly maxMs = 60_000,
  ) {
    target.sentinels.forEach((s, i) => {
      const c = new Redis({
        host: s.host,
        port: s.port,
        ...(target.sentinelPassword ? { password: target.sentinelPassword } : {}),
        connectionName: "hoist-failover-watch",
        retryStrategy: (times) => Math.min(100 * times, 1_000),
        maxRetriesPerRequest: null,
      });
      c.on("error", () => {});
      c.on("message", (channel: string, message: string) => this.onEvent(i, channel, message, target.name));
      void c.subscribe(...OPEN, ...CLOSE).catch(() => {});
      this.clients.push(c);
    });
  }

  private onEvent(sentinel: number, channel: string, message: string, name: string): void {
    // "master <name> <ip> <port> ..." for a master's events; "<name> <old ip> <old port> <new ip> <new port>" for +switch-master.
    const words = message.split(" ");
    const about = channel === "+switch-master" ? words[0] : words[0] === "master" ? words[1] : undefined;
    if (about !== name) return;
    if ((OPEN as readonly string[]).includes(channel)) {
      if (this.open.size === 0) {
        this.since = Date.now();
        this.failovers++;
        this.log.warn({ sentinelEvent: channel }, "Redis master failing over: answering 503 until a master is known");
      }
      this.open.add(sentinel);
      return;
    }
    if (channel === "+switch-master") {
      if (this.open.size)
        this.log.info({ ms: Date.now() - (this.since ?? Date.now()), master: `${words[3]}:${words[4]}` }, "new Redis master known");
      this.open.clear();
      return;
    }
    this.open.delete(sentinel);
  }

  /**
   * How many failovers began so far. A request that saw this change while it ran may have written
   * to a master that is being replaced (its commands resent to the old master as it woke up, say):
   * it must not answer success, as what it stored can be dropped.
   */
  epoch(): number {
    return this.failovers;
  }

  /** Whether a failover is under way (no master to write to safely). */
  inProgress(): boolean {
    if (this.open.size === 0) return false;
    if (this.since !== undefined && Date.now() - this.since > this.maxMs) {
      this.open.clear();
      return false;
    }
    return true;
  }

  close(): void {
    for (const c of this.clients) c.disconnect();
  }
}
