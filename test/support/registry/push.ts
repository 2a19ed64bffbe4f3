import { REGISTRY_ADMIN_USER, type RegistryAuth } from "@hoist/shared";
import type Docker from "dockerode";
import { testRegistryAuth } from "./auth.js";

/**
 * Tags the local image `image` as `<registry>/<repository>:<tag>` and pushes it (by default to the
 * test registry as the operator's admin user); the manifest digest the registry reported.
 */
export async function pushTestImage(
  docker: Docker,
  image: string,
  repository: string,
  tag: string,
  auth: RegistryAuth = testRegistryAuth(REGISTRY_ADMIN_USER),
): Promise<{ ref: string; digest: string }> {
  const repo = `${auth.serveraddress}/${repository}`;
  await docker.getImage(image).tag({ repo, tag });
  // podman honours tlsVerify on push (not in dockerode's types); the test registry is plain HTTP.
  const options = { tag, authconfig: auth, tlsVerify: false } as Parameters<Docker.Image["push"]>[0];
  const stream = (await docker.getImage(repo).push(options)) as NodeJS.ReadableStream;
  const events = await new Promise<{ status?: string; error?: string; aux?: { Digest?: string } }[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err, res) => (err ? reject(err) : resolve(res))),
  );
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(`pushing ${repo}:${tag} failed: ${failed.error}`);
  const digest = events.map((e) => e.aux?.Digest ?? /digest: (sha256:[0-9a-f]{64})/.exec(e.status ?? "")?.[1]).find(Boolean);
  if (!digest) throw new Error(`pushing ${repo}:${tag}: the engine reported no digest`);
  return { ref: `${repo}:${tag}`, digest };
}
