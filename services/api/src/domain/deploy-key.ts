import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

interface DeployKeypair {
  /** One authorized_keys line: `ssh-ed25519 AAAA... hoist:<app>`. */
  publicKey: string;
  /** OpenSSH private key file text, for `ssh -i`. Seal it before storing. */
  privateKey: string;
}

/** Generates an ed25519 keypair with ssh-keygen in a private temp dir that is removed at once. */
export async function generateDeployKey(app: string): Promise<DeployKeypair> {
  const dir = await mkdtemp(join(tmpdir(), "hoist-key-"));
  try {
    const file = join(dir, "id_ed25519");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `hoist:${app}`, "-f", file], { timeout: 10_000 });
    const [privateKey, publicKey] = await Promise.all([readFile(file, "utf8"), readFile(`${file}.pub`, "utf8")]);
    return { privateKey, publicKey: publicKey.trim() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
