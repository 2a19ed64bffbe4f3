import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A second real registry (Debian's docker-registry) behind htpasswd basic auth, on a free loopback port. */
export interface AuthRegistry {
  host: string;
  username: string;
  password: string;
  /** Tags of `repo`, asked with the credentials. */
  tags(repo: string): Promise<string[]>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startAuthRegistry(username: string, password: string): Promise<AuthRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "hoist-authreg-"));
  const port = await freePort();
  writeFileSync(join(dir, "htpasswd"), execFileSync("htpasswd", ["-Bbn", username, password], { encoding: "utf8" }));
  writeFileSync(
    join(dir, "config.yml"),
    [
      "version: 0.1",
      "log: { level: warn, accesslog: { disabled: true } }",
      // ECR's BatchDeleteImage (the test server) deletes manifests here.
      `storage: { filesystem: { rootdirectory: ${join(dir, "data")} }, delete: { enabled: true } }`,
      `http: { addr: "127.0.0.1:${port}", secret: test-secret }`,
      `auth: { htpasswd: { realm: hoist-test, path: ${join(dir, "htpasswd")} } }`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("docker-registry", ["serve", join(dir, "config.yml")], { stdio: "ignore" });
  const host = `127.0.0.1:${port}`;
  const auth = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  for (let i = 0; ; i++) {
    const up = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 401,
      () => false,
    );
    if (up) break;
    if (i > 100) throw new Error("the htpasswd registry did not come up");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    username,
    password,
    async tags(repo) {
      const res = await fetch(`http://${host}/v2/${repo}/tags/list`, { headers: { authorization: auth } });
      if (res.status === 404) return [];
      return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
