// Ports for `pnpm start`: a free one for what it runs privately, and a check of the ones the user chose.
import { createServer } from "node:net";

export function freePort() {
  return new Promise((ok, ko) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", ko);
  });
}

/** Resolves to the error code when `port` cannot be listened on at `host` (EADDRINUSE, EACCES), else undefined. */
export function portProblem(port, host) {
  return new Promise((ok) => {
    const s = createServer();
    s.once("error", (err) => ok(err.code ?? String(err)));
    s.listen(port, host, () => s.close(() => ok(undefined)));
  });
}
