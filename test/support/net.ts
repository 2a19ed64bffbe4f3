import { request } from "node:http";
import { connect, createServer } from "node:net";

/** A port nothing listens on at the moment (on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/**
 * GET `path` from 127.0.0.1:`port` with `host` as the Host header (Caddy's host routes), on a
 * fresh connection: `"<status> <body, trimmed>"`, or `"error <message>"` when no answer came (within
 * `timeoutMs` when given).
 */
export function getViaHost(port: number, host: string, opts: { path?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: opts.path ?? "/",
        headers: { host },
        agent: false,
        ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
      },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => {
          body += d;
        });
        res.on("end", () => resolve(`${res.statusCode} ${body.trim()}`));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve(`error ${err.message}`));
    req.end();
  });
}

/** Whether a Docker Engine API answers `/_ping` on the unix socket. */
export function pingSocket(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** Whether anything accepts connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

export interface Canary {
  host: string;
  port: number;
  /** `http://host:port` */
  url: string;
  /** Connections accepted so far: a refusal is proven by this staying 0. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A listener on a loopback address (127.0.0.2 by default: one HOIST_OUTBOUND_ALLOW=127.0.0.1
 * does not allow) that counts connections and answers any HTTP request 200, so that a refusal
 * that failed to happen would show as a connection here and as a success at the caller.
 */
export function canary(host = "127.0.0.2"): Promise<Canary> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.on("error", () => {});
    socket.once("data", () =>
      socket.end("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"),
    );
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      resolve({
        host,
        port,
        url: `http://${host}:${port}`,
        connections: () => count,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
