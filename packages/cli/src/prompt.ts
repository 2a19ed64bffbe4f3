import { UsageError } from "./errors.js";

/**
 * Reads a secret from stdin: piped (`echo $TOKEN | hoist ...`) or typed at a prompt without echo.
 * Secrets never come from argv, where `ps` and shell history would keep them.
 */
export async function readSecret(label: string, stdin: NodeJS.ReadStream = process.stdin, stderr = process.stderr): Promise<string> {
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
    const value = Buffer.concat(chunks).toString("utf8").trim();
    if (!value) throw new UsageError(`no ${label} on standard input`);
    return value;
  }
  stderr.write(`${label}: `);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = "";
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          done();
          stderr.write("\n");
          if (!value) reject(new UsageError(`no ${label} given`));
          else resolve(value);
          return;
        }
        if (ch === "\u0003") {
          done();
          reject(new UsageError("interrupted"));
          return;
        }
        if (ch === "\u007f") value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
    };
    stdin.on("data", onData);
  });
}
