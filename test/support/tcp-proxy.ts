import { once } from "node:events";
import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 in front of a Redis, to make the network faults a failover brings:
 * `upstream` can be switched (a DNS name or virtual IP that moves to the new master, as on
 * ElastiCache), and connections can be frozen: they stay open and "ready" on the client's side
 * while nothing passes any more (a half-open connection, a partition).
 */
export class TcpProxy {
  private server: Server | undefined;
  /** Every connection so far, in the order clients opened them. */
  readonly links: { client: Socket; upstream: Socket; frozen: boolean }[] = [];
  port = 0;

  constructor(public upstream: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect({ host: "127.0.0.1", port: this.upstream });
      const link = { client, upstream, frozen: false };
      this.links.push(link);
      client.on("data", (d) => {
        if (!link.frozen) upstream.write(d);
      });
      upstream.on("data", (d) => {
        if (!link.frozen) client.write(d);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("close", end);
      upstream.on("close", end);
      client.on("error", end);
      upstream.on("error", end);
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Freezes the connections `which` picks (by their order); new connections pass. */
  freeze(which: (index: number) => boolean = () => true): number {
    let n = 0;
    this.links.forEach((l, i) => {
      if (which(i) && !l.client.destroyed) {
        l.frozen = true;
        n++;
      }
    });
    return n;
  }

  async stop(): Promise<void> {
    for (const l of this.links) {
      l.client.destroy();
      l.upstream.destroy();
    }
    await new Promise((r) => this.server?.close(r));
  }
}
