import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { pack } from "tar-fs";

/**
 * No Docker Hub here: the base images test Dockerfiles name are built locally, `FROM scratch`
 * with Debian's static busybox, and tagged with the names the Dockerfiles expect.
 */
export const busyboxImage = "docker.io/library/busybox:latest";
const aliases = ["docker.io/library/busybox:stable", "docker.io/library/alpine:3"];

export function dockerFromEnv(): Docker {
  const host = process.env.DOCKER_HOST;
  if (!host?.startsWith("unix://")) throw new Error("DOCKER_HOST (unix://...) is not set: run through vitest's global setup");
  return new Docker({ socketPath: host.slice("unix://".length) });
}

async function follow(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err, out) => {
        const failed = (out as { error?: string }[] | undefined)?.find((o) => o.error);
        if (err || failed) reject(err ?? new Error(failed?.error));
        else resolve();
      },
      () => {},
    ),
  );
}

/** Builds the busybox base image once per podman store (idempotent: skipped when present). */
export async function ensureBaseImages(docker = dockerFromEnv()): Promise<void> {
  const have = await docker
    .getImage(busyboxImage)
    .inspect()
    .then(() => true)
    .catch(() => false);
  if (!have) {
    const dir = mkdtempSync(join(tmpdir(), "hoist-base-"));
    try {
      copyFileSync("/bin/busybox", join(dir, "busybox"));
      writeFileSync(
        join(dir, "Dockerfile"),
        [
          "FROM scratch",
          "COPY busybox /bin/busybox",
          'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
          "ENV PATH=/bin",
          'CMD ["sh"]',
          "",
        ].join("\n"),
      );
      await follow(docker, await docker.buildImage(pack(dir), { t: busyboxImage }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const alias of aliases) {
    const [repo, tag] = [alias.slice(0, alias.lastIndexOf(":")), alias.slice(alias.lastIndexOf(":") + 1)];
    await docker.getImage(busyboxImage).tag({ repo, tag });
  }
}
