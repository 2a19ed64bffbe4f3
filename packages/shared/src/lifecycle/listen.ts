import type { Server } from "node:net";

/** EX_CONFIG: the configuration (here a port) is what must change. */
const EXIT_CONFIG = 78;

/**
 * Listens, or exits 78 with one line naming the variable to change when the port is taken or
 * not allowed: a stack trace of EADDRINUSE tells a newcomer nothing they can act on.
 */
export async function listenOrExit(
  server: Server,
  port: number,
  host: string,
  variable: string,
  exit: (code: number) => void = (code) => process.exit(code),
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE" || err.code === "EACCES") {
        const what = err.code === "EADDRINUSE" ? "is taken by another process" : "needs privileges this process lacks";
        process.stderr.write(`port ${port} on ${host} ${what}: set ${variable} to a free port (or stop what holds it)\n`);
        exit(EXIT_CONFIG);
        return;
      }
      reject(err);
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
