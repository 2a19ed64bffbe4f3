import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Tiny HTTP app images for deploy tests, built locally (no Docker Hub): `FROM scratch` plus
 * Debian's static busybox, serving `/www` with `busybox httpd` on $PORT (all interfaces of the app's own
 * network: the local target publishes that port on the host's 127.0.0.1), as a non-root user. Test support only.
 *
 * - `ok`: serves `text` at `/` and 200 at `/healthz`, writes `$GREETING` to `/env.txt`, exits on SIGTERM;
 *   `/host.txt` is the container's hostname; `/cgi-bin/slow` answers `text` after 2 s (a CGI: a request still in flight when a swap comes).
 * - `unhealthy`: serves `/` but never `/healthz` (404), logging why.
 * - `ignores-sigterm`: like `ok`, but its PID 1 ignores SIGTERM, so stopping it costs the whole stop timeout.
 * - `slow-start`: like `ok`, but listens only after 3 s (a deploy stays in its health check that long).
 */
export type HttpAppVariant = "ok" | "unhealthy" | "ignores-sigterm" | "slow-start";

/** The slice of dockerode this needs, so test support carries no dependency of its own. */
export interface ImageBuilder {
  buildImage(context: { context: string; src: string[] }, opts: { t: string }): Promise<NodeJS.ReadableStream>;
  modem: { followProgress(stream: NodeJS.ReadableStream, done: (err: Error | null, out: unknown[]) => void): void };
}

const BUSYBOX = "/bin/busybox";

function script(variant: HttpAppVariant): string {
  const trap = variant === "ignores-sigterm" ? "trap '' TERM" : "trap 'exit 0' TERM";
  const warn = variant === "unhealthy" ? 'echo "http-app: /healthz is not provisioned, health checks will fail"; ' : "";
  return [
    trap,
    'echo "$GREETING" > /www/env.txt',
    // Which container answered (replicas): its hostname, the container's short id.
    "/bin/busybox hostname > /www/host.txt 2>/dev/null",
    ...(variant === "slow-start" ? ["/bin/busybox sleep 3"] : []),
    `${warn}echo "http-app listening on :$PORT as $(/bin/busybox id -u)"`,
    "/bin/busybox httpd -f -p $PORT -h /www &",
    // `wait` returns when a trapped signal arrives; loop so an ignored SIGTERM does not end PID 1.
    "while true; do wait; done",
  ].join("\n");
}

/** The tag the builder would give: `<registry>/<app>:<service>.<buildNumber>`. */
export function builderTag(app: string, service: string, buildNumber: number): string {
  return `${process.env.HOIST_TEST_REGISTRY ?? "localhost"}/${app}:${service}.${buildNumber}`;
}

export async function buildHttpAppImage(docker: ImageBuilder, tag: string, text: string, variant: HttpAppVariant = "ok"): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "hoist-http-app-"));
  try {
    copyFileSync(BUSYBOX, join(dir, "busybox"));
    mkdirSync(join(dir, "www"));
    writeFileSync(join(dir, "www", "index.html"), `${text}\n`);
    mkdirSync(join(dir, "www", "cgi-bin"));
    writeFileSync(
      join(dir, "www", "cgi-bin", "slow"),
      `#!/bin/busybox sh\n/bin/busybox sleep 2\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' ${JSON.stringify(text)}\n`,
      { mode: 0o755 },
    );
    if (variant !== "unhealthy") writeFileSync(join(dir, "www", "healthz"), "ok\n");
    writeFileSync(
      join(dir, "Dockerfile"),
      [
        "FROM scratch",
        "COPY busybox /bin/busybox",
        // Writable by the non-root user the local target runs it as (it writes /www/env.txt).
        "COPY --chown=65534:65534 www /www",
        `ENTRYPOINT ["/bin/busybox", "sh", "-c", ${JSON.stringify(script(variant))}]`,
        "",
      ].join("\n"),
    );
    const stream = await docker.buildImage({ context: dir, src: ["Dockerfile", "busybox", "www"] }, { t: tag });
    const out = await new Promise<unknown[]>((resolve, reject) =>
      docker.modem.followProgress(stream, (err, res) => (err ? reject(err) : resolve(res))),
    );
    const failed = out.find((o) => typeof o === "object" && o !== null && "error" in o) as { error?: string } | undefined;
    if (failed) throw new Error(`building ${tag} failed: ${failed.error}`);
    return tag;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The files of a repository that builds such an app from source (compose, Dockerfile, `/www`):
 * busybox httpd on $PORT (all interfaces of its network), `/` says `text`; `healthy: false` leaves out /healthz.
 */
export function httpAppRepoFiles(text: string, healthy = true): Record<string, string | null> {
  return {
    "docker-compose.yml": "services:\n  web:\n    build: .\n",
    Dockerfile: [
      "FROM busybox",
      "COPY www /www",
      // PID 1 is a shell that exits on SIGTERM (a bare httpd as PID 1 would ignore it).
      `CMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p $PORT -h /www & while true; do wait; done"]`,
      "",
    ].join("\n"),
    "www/index.html": `${text}\n`,
    "www/healthz": healthy ? "ok\n" : null,
  };
}
