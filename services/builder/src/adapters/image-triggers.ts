import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { extract } from "tar-stream";
import { z } from "zod";
import { BuildFailure, oneLine } from "../domain/failure.js";
import { consume, engineUnreachable, isEngineUnreachable } from "./docker.js";

/** The part of a Docker image config that holds ONBUILD triggers (the container's config and the one it was made in). */
const imageConfigSchema = z.object({
  config: z.object({ OnBuild: z.array(z.string()).nullish() }).nullish(),
  container_config: z.object({ OnBuild: z.array(z.string()).nullish() }).nullish(),
});

/** An image config blob is small (kilobytes); this much is plenty, and bounds what a hostile image can make the builder hold. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

interface ReadOptions {
  /** The app's credentials, only when the image is on Hoist's registry (never sent to another). */
  auth?: { username: string; password: string; serveraddress: string } | undefined;
  signal: AbortSignal;
  log: (line: string) => void;
}

export interface ImageTriggers {
  /** The image's id (its config's digest) and its ONBUILD triggers, pulled first when the engine lacks it. */
  read(ref: string, o: ReadOptions): Promise<{ id: string; triggers: string[]; pulled: boolean }>;
}

function engineMessage(err: unknown): string {
  const e = err as { message?: string; json?: { message?: string } };
  return flat(e.json?.message ?? e.message ?? String(err));
}

/** An engine's message on one line, all of it (podman puts the registry's answer on the lines after `errors:`), capped. */
function flat(text: string, max = 400): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

const refusedPull = /unauthorized|authentication required|denied|not found|manifest unknown|no such|\b40[134]\b/i;

/**
 * Reads pulled images' ONBUILD triggers through the Engine API. The engine's inspect does not
 * always say them (podman's compatible API reports `Config.OnBuild: null` for an image that has
 * triggers), so the image config itself is read from the engine's export of the image: the
 * entry whose SHA-256 is the image's id, so what is read is the config the build will use.
 * Triggers never change for an id: each image is read once per process (`cacheSize` ids kept).
 */
export function imageTriggers(docker: Docker, cacheSize = 256): ImageTriggers {
  const cache = new Map<string, string[]>();

  const inspect = async (ref: string): Promise<{ Id: string; Config?: { OnBuild?: string[] | null } } | undefined> => {
    try {
      return (await docker.getImage(ref).inspect()) as { Id: string; Config?: { OnBuild?: string[] | null } };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      if (isEngineUnreachable(err)) throw engineUnreachable(docker, err);
      throw new BuildFailure(`the container engine could not inspect ${ref}: ${engineMessage(err)}`, false);
    }
  };

  const pull = async (ref: string, o: ReadOptions): Promise<void> => {
    let res: IncomingMessage;
    try {
      res = (await docker.pull(ref, o.auth ? { authconfig: o.auth } : {})) as IncomingMessage;
    } catch (err) {
      if (o.signal.aborted) throw o.signal.reason;
      if (isEngineUnreachable(err)) throw engineUnreachable(docker, err);
      const why = engineMessage(err);
      throw new BuildFailure(`could not pull ${ref} to read its ONBUILD triggers: ${why}`, refusedPull.test(why));
    }
    let error: string | undefined;
    await consume(res, o.signal, (m) => {
      if (m.error || m.errorDetail?.message) error = m.errorDetail?.message ?? m.error;
    });
    if (error !== undefined) {
      throw new BuildFailure(`could not pull ${ref} to read its ONBUILD triggers: ${flat(error)}`, refusedPull.test(error));
    }
  };

  /** The config blob of image `id` from the engine's export (docker-archive `<hex>.json` or OCI layout `blobs/sha256/<hex>`). */
  const exportedConfig = async (id: string, signal: AbortSignal): Promise<Buffer> => {
    const hex = id.replace(/^sha256:/, "");
    const names = new Set([`${hex}.json`, `blobs/sha256/${hex}`]);
    let res: Readable;
    try {
      res = (await docker.getImage(id).get()) as unknown as Readable;
    } catch (err) {
      if (isEngineUnreachable(err)) throw engineUnreachable(docker, err);
      throw new BuildFailure(
        `the container engine could not export image ${id} to read its ONBUILD triggers: ${engineMessage(err)}`,
        false,
      );
    }
    const tar = extract();
    const done = new Promise<Buffer | undefined>((resolve, reject) => {
      tar.on("entry", (header, stream, next) => {
        if (!names.has(header.name.replace(/^\.\//, "")) || (header.size ?? 0) > MAX_CONFIG_BYTES) {
          stream.on("end", next);
          stream.resume();
          return;
        }
        const chunks: Buffer[] = [];
        stream.on("data", (c: unknown) => chunks.push(c as Buffer));
        // Found: the rest of the export (the layers) is not read.
        stream.on("end", () => resolve(Buffer.concat(chunks)));
      });
      tar.on("finish", () => resolve(undefined));
      tar.on("error", reject);
      res.on("error", reject);
      const abort = () => reject(signal.reason);
      if (signal.aborted) abort();
      signal.addEventListener("abort", abort, { once: true });
    });
    res.pipe(tar);
    try {
      const blob = await done;
      if (!blob) throw new BuildFailure(`the engine's export of image ${id} holds no image config named for its id`, false);
      return blob;
    } finally {
      res.unpipe(tar);
      res.destroy();
      tar.destroy();
    }
  };

  return {
    async read(ref, o) {
      let image = await inspect(ref);
      let pulled = false;
      if (!image) {
        o.log(`pulling ${ref} to read its ONBUILD triggers`);
        await pull(ref, o);
        pulled = true;
        image = await inspect(ref);
        if (!image)
          throw new BuildFailure(`could not pull ${ref} to read its ONBUILD triggers: the engine has no such image after the pull`, false);
      }
      const id = image.Id.startsWith("sha256:") ? image.Id : `sha256:${image.Id}`;
      const known = cache.get(id);
      if (known) return { id, triggers: known, pulled };
      const blob = await exportedConfig(id, o.signal);
      // The id is the config's digest: anything else is not the config the build will start from.
      if (`sha256:${createHash("sha256").update(blob).digest("hex")}` !== id) {
        throw new BuildFailure(`the image config the engine exported for ${ref} does not match its id ${id}`, false);
      }
      let parsed: z.infer<typeof imageConfigSchema>;
      try {
        parsed = imageConfigSchema.parse(JSON.parse(blob.toString("utf8")));
      } catch (err) {
        throw new BuildFailure(`the image config of ${ref} (${id}) is not a Docker image config: ${oneLine((err as Error).message)}`, true);
      }
      const triggers = [
        ...new Set([...(image.Config?.OnBuild ?? []), ...(parsed.config?.OnBuild ?? []), ...(parsed.container_config?.OnBuild ?? [])]),
      ];
      cache.set(id, triggers);
      if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
      return { id, triggers, pulled };
    },
  };
}
