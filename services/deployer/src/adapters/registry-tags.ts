import { BatchDeleteImageCommand, ECRClient } from "@aws-sdk/client-ecr";
import { ecrRegistryOf, type Image, type RegistryAuth, registryBaseUrl, registryHost } from "@hoist/shared";
import { z } from "zod";
import type { TagRemoval } from "../domain/previews.js";

/** Removes image tags from Hoist's registry (a preview's, on its teardown); `protect`: digests that must stay. */
export interface RegistryTags {
  remove(images: Image[], protect: ReadonlySet<string>): Promise<TagRemoval>;
}

/** `host[:port]/repo/path:tag` split; undefined when it names no tag (a digest reference, or none). */
export function parseImageTag(ref: string): { host: string; repository: string; tag: string } | undefined {
  const slash = ref.indexOf("/");
  if (slash < 1 || ref.includes("@")) return undefined;
  const rest = ref.slice(slash + 1);
  const colon = rest.lastIndexOf(":");
  if (colon < 1) return undefined;
  return { host: ref.slice(0, slash), repository: rest.slice(0, colon), tag: rest.slice(colon + 1) };
}

const ATTEMPTS = 3;
const TIMEOUT_MS = 10_000;
const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

class Transient extends Error {}

/** Retries what may pass (network, 5xx, 429) a few times, 0.5 s then 1 s apart. */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof Transient) || i >= ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 500 * i));
    }
  }
}

const tokenSchema = z.union([z.object({ token: z.string().min(1) }), z.object({ access_token: z.string().min(1) })]);

/**
 * The Distribution (registry v2) API: a tag is removed by deleting the manifest it points at
 * (`DELETE /v2/<name>/manifests/<digest>`), which removes every tag of that digest. So the caller
 * passes only tags no one else uses, and a tag that moved to another digest since the build
 * recorded it is kept. Auth: the registry's challenge (Bearer token from its realm, or Basic).
 */
export class DistributionTags implements RegistryTags {
  private readonly tokens = new Map<string, string>();

  constructor(
    private readonly opts: {
      /** HOIST_REGISTRY: only its host's tags are touched. */
      registry: string;
      auth?: RegistryAuth;
      insecure: boolean;
    },
  ) {}

  async remove(images: Image[], protect: ReadonlySet<string>): Promise<TagRemoval> {
    const out: TagRemoval = { removed: [], kept: [] };
    const host = registryHost(this.opts.registry);
    for (const image of images) {
      const ref = parseImageTag(image.tag);
      if (!ref || ref.host !== host) {
        out.kept.push({ tag: image.tag, reason: `not a tag in Hoist's registry ${host}` });
        continue;
      }
      try {
        const kept = await retried(() => this.removeOne(ref, image.digest, protect));
        if (kept) out.kept.push({ tag: image.tag, reason: kept });
        else out.removed.push(image.tag);
      } catch (err) {
        out.kept.push({ tag: image.tag, reason: `the registry could not be reached: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
    return out;
  }

  /** Undefined: removed or already gone; else why it was kept. */
  private async removeOne(
    ref: { repository: string; tag: string },
    recorded: string | undefined,
    protect: ReadonlySet<string>,
  ): Promise<string | undefined> {
    const scope = `repository:${ref.repository}:pull,delete`;
    const head = await this.call("HEAD", `/v2/${ref.repository}/manifests/${encodeURIComponent(ref.tag)}`, scope, {
      accept: MANIFEST_TYPES,
    });
    if (head.status === 404) return undefined;
    if (head.status !== 200) return refusal("reading the tag", head.status);
    const digest = head.headers.get("docker-content-digest");
    if (!digest) return "the registry gave no Docker-Content-Digest for the tag";
    if (recorded && recorded !== digest) return `the tag now points at ${digest}, not the build's ${recorded}`;
    if (protect.has(digest)) return `another build or release of the app uses its image ${digest}`;
    const del = await this.call("DELETE", `/v2/${ref.repository}/manifests/${digest}`, scope);
    if (del.status === 202 || del.status === 200 || del.status === 404) return undefined;
    if (del.status === 405) return "the registry does not allow deletes (enable storage.delete in its configuration)";
    return refusal("deleting the manifest", del.status);
  }

  /** One request, answering the registry's auth challenge once. Network errors and 5xx/429 are Transient. */
  private async call(method: string, path: string, scope: string, headers: Record<string, string> = {}): Promise<Response> {
    const send = (authorization?: string) =>
      this.fetch(`${registryBaseUrl(this.opts.registry, this.opts.insecure)}${path}`, {
        method,
        headers: { ...headers, ...(authorization ? { authorization } : {}) },
      });
    const cached = this.tokens.get(scope);
    let res = await send(cached ? `Bearer ${cached}` : undefined);
    if (res.status === 401) {
      const authorization = await this.answer(res.headers.get("www-authenticate") ?? "", scope);
      if (authorization) res = await send(authorization);
    }
    if (res.status >= 500 || res.status === 429) throw new Transient(`${method} ${path} answered ${res.status}`);
    return res;
  }

  private async answer(challenge: string, scope: string): Promise<string | undefined> {
    const auth = this.opts.auth;
    const basic = auth ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` : undefined;
    if (/^basic/i.test(challenge)) return basic;
    if (!/^bearer/i.test(challenge)) return undefined;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!params.realm) return undefined;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", scope);
    const res = await this.fetch(url.toString(), { headers: basic ? { authorization: basic } : {} });
    if (res.status >= 500 || res.status === 429) throw new Transient(`the registry's token service answered ${res.status}`);
    if (res.status !== 200) return undefined;
    const parsed = tokenSchema.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) return undefined;
    const token = "token" in parsed.data ? parsed.data.token : parsed.data.access_token;
    this.tokens.set(scope, token);
    return `Bearer ${token}`;
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      throw new Transient(err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err));
    }
  }
}

function refusal(what: string, status: number): string {
  if (status === 401 || status === 403) return `${what} was refused (${status}): the deployer's registry user may not delete`;
  return `${what} answered ${status}`;
}

/** ECR removes a tag alone (`BatchDeleteImage` by tag); an image loses its last tag, ECR deletes it. */
export class EcrTags implements RegistryTags {
  constructor(private readonly opts: { registry: string; client?: ECRClient }) {}

  /** `protect` plays no part: ECR removes the tag alone, never another tag of the same image. */
  async remove(images: Image[], _protect: ReadonlySet<string>): Promise<TagRemoval> {
    const out: TagRemoval = { removed: [], kept: [] };
    const ecr = ecrRegistryOf(this.opts.registry);
    // Each repository's tags, with the image reference they came from (what the result names).
    const byRepo = new Map<string, { tag: string; ref: string }[]>();
    for (const image of images) {
      const ref = parseImageTag(image.tag);
      // The host is ECR's endpoint as GetAuthorizationToken named it when the build pushed: the
      // repository (in HOIST_REGISTRY's account) is what names the image here.
      if (!ecr || !ref) out.kept.push({ tag: image.tag, reason: `not a tag in Hoist's registry ${registryHost(this.opts.registry)}` });
      else byRepo.set(ref.repository, [...(byRepo.get(ref.repository) ?? []), { tag: ref.tag, ref: image.tag }]);
    }
    if (!ecr) return out;
    const client = this.opts.client ?? new ECRClient({ region: ecr.region });
    for (const [repositoryName, tags] of byRepo) {
      // At most 100 image ids per call.
      for (let i = 0; i < tags.length; i += 100) {
        const batch = tags.slice(i, i + 100);
        try {
          const res = await client.send(
            new BatchDeleteImageCommand({
              registryId: ecr.accountId,
              repositoryName,
              imageIds: batch.map(({ tag }) => ({ imageTag: tag })),
            }),
          );
          const failed = new Map((res.failures ?? []).map((f) => [f.imageId?.imageTag ?? "", f]));
          for (const { tag, ref } of batch) {
            const f = failed.get(tag);
            if (!f || f.failureCode === "ImageNotFound") out.removed.push(ref);
            else out.kept.push({ tag: ref, reason: `ECR: ${f.failureCode ?? "failed"}: ${f.failureReason ?? ""}`.trim() });
          }
        } catch (err) {
          const e = err as { name?: string; message?: string };
          if (e.name === "RepositoryNotFoundException") out.removed.push(...batch.map(({ ref }) => ref));
          else {
            const reason = `ECR BatchDeleteImage: ${e.name ?? "Error"}: ${e.message ?? String(err)}`;
            out.kept.push(...batch.map(({ ref }) => ({ tag: ref, reason })));
          }
        }
      }
    }
    return out;
  }
}

/** HOIST_REGISTRY's remover: ECR's by tag, any other registry's through the Distribution API. */
export function registryTagsFor(cfg: { registry: string; auth?: RegistryAuth; insecure: boolean; ecr?: ECRClient }): RegistryTags {
  if (ecrRegistryOf(cfg.registry)) return new EcrTags({ registry: cfg.registry, ...(cfg.ecr ? { client: cfg.ecr } : {}) });
  return new DistributionTags({ registry: cfg.registry, insecure: cfg.insecure, ...(cfg.auth ? { auth: cfg.auth } : {}) });
}
