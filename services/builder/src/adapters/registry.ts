import { CreateRepositoryCommand, DescribeRepositoriesCommand, ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { appRegistryUser, type DependencyProbe, ecrRegistryOf, httpProbe, registryBaseUrl, registryPassword } from "@hoist/shared";
import { z } from "zod";
import { BuildFailure, oneLine } from "../domain/failure.js";

/** Where images go and how to log in, resolved per build (ECR tokens last 12 hours). */
export interface PushTarget {
  /** `host[:port][/namespace]`: image names are `<prefix>/<app>`. */
  prefix: string;
  auth?: { username: string; password: string; serveraddress: string };
  /**
   * The app's own credentials for the build's FROM pulls (X-Registry-Config): only Hoist's
   * derived per-app users, whose token reaches no other app's repository. Shared or ECR
   * credentials are never handed to a Dockerfile's pulls.
   */
  buildAuth?: { username: string; password: string; serveraddress: string };
  /** Registry over plain HTTP or without TLS verification (test registries, `HOIST_REGISTRY_INSECURE`). */
  insecure: boolean;
}

export function isEcrRegistry(registry: string): boolean {
  return ecrRegistryOf(registry) !== undefined;
}

interface RegistryConfig {
  HOIST_REGISTRY: string;
  HOIST_REGISTRY_USERNAME?: string | undefined;
  HOIST_REGISTRY_PASSWORD?: string | undefined;
  HOIST_REGISTRY_INSECURE: boolean;
  /** Set: the registry runs Hoist's token auth and each app pushes (and pulls) as its own user `app-<name>`. */
  HOIST_REGISTRY_SECRET?: string | undefined;
}

const authDataSchema = z.object({
  authorizationData: z
    .array(z.object({ authorizationToken: z.string().min(1), proxyEndpoint: z.string().url() }))
    .min(1, "ECR returned no authorization data"),
});

function awsError(err: unknown): { name: string; message: string; permanent: boolean } {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  // No HTTP status: the endpoint was not reached at all. Throttling and 5xx pass; the rest (denied, invalid) does not.
  const transient = !status || status >= 500 || status === 429 || /Throttling|ServerException|ServiceUnavailable/.test(e.name ?? "");
  return { name: e.name ?? "Error", message: oneLine(e.message ?? String(err)), permanent: !transient };
}

/**
 * Resolves the push target for `app`. For ECR: a fresh authorization token, and the app's
 * repository created when it does not exist yet.
 */
export async function resolvePushTarget(cfg: RegistryConfig, app: string, ecr?: ECRClient): Promise<PushTarget> {
  const [host, ...ns] = cfg.HOIST_REGISTRY.replace(/\/+$/, "").split("/");
  const ecrOf = ecrRegistryOf(cfg.HOIST_REGISTRY);
  if (!ecrOf) {
    // An app's own credentials are derived here, for this build only: the token service grants
    // them its repository and the base images, so a FROM of another app's image is refused.
    const user = cfg.HOIST_REGISTRY_SECRET ? appRegistryUser(app) : cfg.HOIST_REGISTRY_USERNAME;
    const password = cfg.HOIST_REGISTRY_SECRET ? registryPassword(cfg.HOIST_REGISTRY_SECRET, user as string) : cfg.HOIST_REGISTRY_PASSWORD;
    const auth = user && password ? { username: user, password, serveraddress: host as string } : undefined;
    return {
      prefix: cfg.HOIST_REGISTRY.replace(/\/+$/, ""),
      insecure: cfg.HOIST_REGISTRY_INSECURE,
      ...(auth ? { auth } : {}),
      ...(auth && cfg.HOIST_REGISTRY_SECRET ? { buildAuth: auth } : {}),
    };
  }
  const client = ecr ?? new ECRClient({ region: ecrOf.region });
  const repositoryName = [...ns, app].join("/");
  let data: z.infer<typeof authDataSchema>;
  try {
    const res = await client.send(new GetAuthorizationTokenCommand({ registryIds: [ecrOf.accountId] }));
    const parsed = authDataSchema.safeParse(res);
    if (!parsed.success)
      throw new BuildFailure(`push: ECR GetAuthorizationToken answered unexpectedly: ${parsed.error.issues[0]?.message}`, false);
    data = parsed.data;
  } catch (err) {
    if (err instanceof BuildFailure) throw err;
    const e = awsError(err);
    throw new BuildFailure(`push: ECR GetAuthorizationToken failed: ${e.name}: ${e.message}`, e.permanent);
  }
  try {
    await client.send(new DescribeRepositoriesCommand({ registryId: ecrOf.accountId, repositoryNames: [repositoryName] }));
  } catch (err) {
    const e = awsError(err);
    if (e.name !== "RepositoryNotFoundException") {
      throw new BuildFailure(`push: ECR DescribeRepositories failed: ${e.name}: ${e.message}`, e.permanent);
    }
    try {
      await client.send(new CreateRepositoryCommand({ registryId: ecrOf.accountId, repositoryName }));
    } catch (err2) {
      const e2 = awsError(err2);
      // Another builder may have created it in between.
      if (e2.name !== "RepositoryAlreadyExistsException") {
        throw new BuildFailure(`push: ECR CreateRepository ${repositoryName} failed: ${e2.name}: ${e2.message}`, e2.permanent);
      }
    }
  }
  const first = data.authorizationData[0] as { authorizationToken: string; proxyEndpoint: string };
  const decoded = Buffer.from(first.authorizationToken, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 1) throw new BuildFailure("push: ECR authorization token is not user:password", false);
  const endpoint = new URL(first.proxyEndpoint);
  const pushHost = endpoint.host;
  return {
    prefix: [pushHost, ...ns].join("/"),
    insecure: endpoint.protocol === "http:" || cfg.HOIST_REGISTRY_INSECURE,
    auth: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: pushHost },
  };
}

/**
 * The registry as a dependency (its `/v2/` answers, 401 included, when it is up). ECR is not
 * probed: reaching it needs a token per build, and a failed token request already says why.
 */
export function registryProbe(cfg: RegistryConfig): DependencyProbe | undefined {
  if (isEcrRegistry(cfg.HOIST_REGISTRY)) return undefined;
  return httpProbe("registry", `${registryBaseUrl(cfg.HOIST_REGISTRY, cfg.HOIST_REGISTRY_INSECURE)}/v2/`);
}
