import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * The git host's SSH host keys as known_hosts lines, fetched with ssh-keyscan. Pinned at link
 * time; the builder refuses a host whose key later differs.
 */
export async function scanHostKeys(host: string, port: number, timeoutS = 5): Promise<string[]> {
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new Error(`not a host name: ${host}`);
  let stdout = "";
  try {
    ({ stdout } = await run("ssh-keyscan", ["-T", String(timeoutS), "-p", String(port), "-t", "ed25519,ecdsa,rsa", "--", host], {
      timeout: (timeoutS + 2) * 1000,
    }));
  } catch (err) {
    stdout = (err as { stdout?: string }).stdout ?? "";
  }
  const lines = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  if (lines.length === 0) throw new Error(`no SSH host key from ${host}:${port}; is the git host reachable over SSH?`);
  return lines;
}
