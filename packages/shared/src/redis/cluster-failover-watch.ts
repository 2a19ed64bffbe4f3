import type { Cluster } from "ioredis";
import type { Logger } from "pino";

/** CRC16 (XMODEM), as Redis Cluster hashes keys: slot = crc16(tag) mod 16384. */
function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of a key (its `{tag}` when it has a non-empty one), as Redis Cluster computes it. */
export function keySlot(key: string): number {
  const open = key.indexOf("{");
  const close = open >= 0 ? key.indexOf("}", open + 1) : -1;
  const tagged = open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(tagged) % 16384;
}

/** A connection failure (the node is gone), not a command's own error. */
const LOST = /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Socket closed unexpectedly/i;

/**
 * Sentinel's FailoverWatch for a Redis Cluster, where no event announces a failover: every Hoist
 * key is in the slot of HOIST_QUEUE_PREFIX's tag, so Hoist is down exactly while the master of
 * that slot is. From the moment the Cluster client loses its connection to that master until the
 * slot map names another master (the replica took over) or the master answers again,
 * `inProgress()` is true, and the API answers 503 at once instead of after the command timeout; a
 * request under way when it began answers 503 too (`epoch()`), as what it wrote to the lost
 * master may not have reached the replica. Meanwhile the slot map is reloaded every 250 ms.
 */
export class ClusterFailoverWatch {
  private readonly slot: number;
  /** The master ("host:port") the slot was on when its connection was lost. */
  private lost: string | undefined;
  private since = 0;
  private failovers = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly cluster: Cluster,
    prefix: string,
    private readonly log: Logger,
    /** A failover that never finishes stops counting after this. */
    private readonly maxMs = 60_000,
  ) {
    this.slot = keySlot(prefix);
    cluster.on("node error", (err: Error, key: string) => {
      if (LOST.test(err.message) || LOST.test(String((err as { code?: string }).code))) this.onLost(key);
    });
    cluster.on("-node", (redis: { options: { host?: string; port?: number } }) =>
      this.onLost(`${redis.options.host}:${redis.options.port}`),
    );
    cluster.on("refresh", () => this.check());
    this.timer = setInterval(() => {
      if (this.lost === undefined) return;
      cluster.refreshSlotsCache(() => this.check());
      // Still the lost master in the map: ask it (the client connects to a node only for a command).
      const node = this.lost === this.master() ? this.node(this.lost) : undefined;
      node?.ping().then(
        () => this.check(),
        () => {},
      );
    }, 250);
    this.timer.unref();
  }

  private master(): string | undefined {
    return this.cluster.slots[this.slot]?.[0];
  }

  private node(key: string) {
    return this.cluster.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === key);
  }

  private onLost(key: string): void {
    if (this.lost !== undefined || key !== this.master() || this.cluster.status !== "ready") return;
    this.lost = key;
    this.since = Date.now();
    this.failovers++;
    this.log.warn({ node: key, slot: this.slot }, "Redis Cluster master of Hoist's slot lost: answering 503 until a master is known");
  }

  /** Over once another master serves the slot, or the lost one answers again. */
  private check(): void {
    if (this.lost === undefined) return;
    const master = this.master();
    const back = this.node(this.lost)?.status === "ready";
    if ((master !== undefined && master !== this.lost) || back) {
      this.log.info({ ms: Date.now() - this.since, master }, "Redis Cluster master of Hoist's slot known");
      this.lost = undefined;
    }
  }

  /** How many failovers began so far (see FailoverWatch.epoch). */
  epoch(): number {
    return this.failovers;
  }

  /** Whether Hoist's slot has no master to write to. */
  inProgress(): boolean {
    if (this.lost === undefined) return false;
    if (Date.now() - this.since > this.maxMs) {
      this.lost = undefined;
      return false;
    }
    return true;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
