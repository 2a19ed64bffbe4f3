import { AwsError } from "../aws/errors.js";
import { type AwsRejection, startAwsJsonServer, TEST_AWS_CREDENTIALS } from "../aws/json-server.js";
import type { AwsTestCredentials } from "../aws/sigv4.js";

/**
 * An Amazon ECR test server speaking the AWS JSON 1.1 protocol the SDK uses
 * (`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`), for the operations the
 * builder and the deployer call. Shapes and errors follow the ECR API reference: errors are HTTP 400 with
 * `{"__type": "<Exception>", "message": ...}`. It hands out credentials of a real registry
 * (htpasswd) and names that registry as `proxyEndpoint`.
 */
export interface EcrState {
  accountId: string;
  region: string;
  /** Where images really go: `http://127.0.0.1:<port>` of the htpasswd registry. */
  proxyEndpoint: string;
  /** The registry password ECR's token carries (user `AWS`). */
  password: string;
  repositories: Map<string, { createdAt: number }>;
  /**
   * `<repository>:<tag>` untagged by BatchDeleteImage while another tag kept its image: the backing
   * registry (registry v2) cannot remove one tag of a manifest alone, ECR can; these no longer exist.
   */
  untagged: Set<string>;
  /** Authenticated calls, in order. */
  requests: { target: string; body: Record<string, unknown> }[];
  /** Calls refused by SigV4 verification (service `ecr`, the state's region), with ECR's error. */
  rejected: AwsRejection[];
  /** Fault injection: the next call of `operation` fails with this error. */
  failNext(operation: string, error: { status: number; type: string; message: string }): void;
}

export interface EcrServer {
  url: string;
  state: EcrState;
  close(): Promise<void>;
}

const PREFIX = "AmazonEC2ContainerRegistry_V20150921.";
const repoNameRe = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export async function startEcrServer(init: {
  proxyEndpoint: string;
  password: string;
  accountId?: string;
  region?: string;
  /** Key pairs ECR knows; TEST_AWS_CREDENTIALS by default. */
  credentials?: readonly AwsTestCredentials[];
  clock?: () => number;
}): Promise<EcrServer> {
  const faults = new Map<string, { status: number; type: string; message: string }>();
  const state: EcrState = {
    accountId: init.accountId ?? "123456789012",
    region: init.region ?? "eu-west-1",
    proxyEndpoint: init.proxyEndpoint,
    password: init.password,
    repositories: new Map(),
    untagged: new Set(),
    requests: [],
    rejected: [],
    failNext: (op, err) => faults.set(op, err),
  };

  const repository = (name: string) => {
    const r = state.repositories.get(name);
    return {
      repositoryArn: `arn:aws:ecr:${state.region}:${state.accountId}:repository/${name}`,
      registryId: state.accountId,
      repositoryName: name,
      repositoryUri: `${state.accountId}.dkr.ecr.${state.region}.amazonaws.com/${name}`,
      createdAt: (r?.createdAt ?? Date.now()) / 1000,
      imageTagMutability: "MUTABLE",
      imageScanningConfiguration: { scanOnPush: false },
      encryptionConfiguration: { encryptionType: "AES256" },
    };
  };

  const checkRegistryId = (body: Record<string, unknown>) => {
    const id = body.registryId;
    if (id !== undefined && id !== state.accountId) {
      throw new AwsError("RegistryNotFoundException", `The registry with id '${String(id)}' does not exist`);
    }
  };

  // The backing registry, as ECR's own storage (user AWS, the token's password).
  const backing = (method: string, path: string, accept?: string) =>
    fetch(`${state.proxyEndpoint}/v2/${path}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`AWS:${state.password}`).toString("base64")}`,
        ...(accept ? { accept } : {}),
      },
    });
  const MANIFESTS = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
  const digestOf = async (repo: string, tag: string): Promise<string | undefined> => {
    if (state.untagged.has(`${repo}:${tag}`)) return undefined;
    const res = await backing("HEAD", `${repo}/manifests/${tag}`, MANIFESTS);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new AwsError("ServerException", `storage answered ${res.status}`, 500);
    return res.headers.get("docker-content-digest") ?? undefined;
  };

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    // Removes tags (an image losing its last tag is deleted); a missing one is a failure of its own.
    BatchDeleteImage: async (body) => {
      checkRegistryId(body);
      const name = body.repositoryName;
      if (typeof name !== "string" || !state.repositories.has(name)) {
        throw new AwsError(
          "RepositoryNotFoundException",
          `The repository with name '${String(name)}' does not exist in the registry with id '${state.accountId}'`,
        );
      }
      const ids = body.imageIds;
      if (!Array.isArray(ids) || ids.length < 1 || ids.length > 100) {
        throw new AwsError(
          "InvalidParameterException",
          "Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length between 1 and 100'",
        );
      }
      const imageIds: { imageTag: string; imageDigest: string }[] = [];
      const failures: { imageId: Record<string, unknown>; failureCode: string; failureReason: string }[] = [];
      for (const id of ids as Record<string, unknown>[]) {
        const tag = id.imageTag;
        if (typeof tag !== "string" || id.imageDigest !== undefined) {
          failures.push({ imageId: id, failureCode: "MissingDigestAndTag", failureReason: "this server removes images by tag only" });
          continue;
        }
        const digest = await digestOf(name, tag);
        if (!digest) {
          failures.push({ imageId: { imageTag: tag }, failureCode: "ImageNotFound", failureReason: "Requested image not found" });
          continue;
        }
        const list = await backing("GET", `${name}/tags/list`);
        const tags = ((await list.json()) as { tags?: string[] | null }).tags ?? [];
        let shared = false;
        for (const t of tags) if (t !== tag && (await digestOf(name, t)) === digest) shared = true;
        if (shared) state.untagged.add(`${name}:${tag}`);
        else {
          const del = await backing("DELETE", `${name}/manifests/${digest}`);
          if (del.status !== 202) throw new AwsError("ServerException", `storage answered ${del.status} to the delete`, 500);
        }
        imageIds.push({ imageTag: tag, imageDigest: digest });
      }
      return { imageIds, failures };
    },
    GetAuthorizationToken: (body) => {
      const ids = body.registryIds;
      if (ids !== undefined && (!Array.isArray(ids) || ids.some((i) => i !== state.accountId))) {
        throw new AwsError(
          "InvalidParameterException",
          "Invalid parameter at 'registryIds' failed to satisfy constraint: the registry is not this account's",
        );
      }
      return {
        authorizationData: [
          {
            authorizationToken: Buffer.from(`AWS:${state.password}`).toString("base64"),
            expiresAt: Math.floor(Date.now() / 1000) + 12 * 3600,
            proxyEndpoint: state.proxyEndpoint,
          },
        ],
      };
    },
    DescribeRepositories: (body) => {
      checkRegistryId(body);
      const names = body.repositoryNames as string[] | undefined;
      if (names) {
        for (const n of names) {
          if (!state.repositories.has(n)) {
            throw new AwsError(
              "RepositoryNotFoundException",
              `The repository with name '${n}' does not exist in the registry with id '${state.accountId}'`,
            );
          }
        }
        return { repositories: names.map(repository) };
      }
      return { repositories: [...state.repositories.keys()].map(repository) };
    },
    CreateRepository: (body) => {
      checkRegistryId(body);
      const name = body.repositoryName;
      if (typeof name !== "string" || name.length < 2 || name.length > 256 || !repoNameRe.test(name)) {
        throw new AwsError(
          "InvalidParameterException",
          `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '${repoNameRe.source}''`,
        );
      }
      if (state.repositories.has(name)) {
        throw new AwsError(
          "RepositoryAlreadyExistsException",
          `The repository with name '${name}' already exists in the registry with id '${state.accountId}'`,
        );
      }
      state.repositories.set(name, { createdAt: Date.now() });
      return { repository: repository(name) };
    },
  };

  const server = await startAwsJsonServer({
    service: "ecr",
    targetPrefix: PREFIX,
    region: () => state.region,
    credentials: init.credentials ?? [TEST_AWS_CREDENTIALS],
    clock: init.clock ?? Date.now,
    // ECR tolerates 15 minutes of clock skew, where KMS and ECS tolerate 5.
    maxSkewMs: 15 * 60_000,
    internalErrorType: "ServerException",
    operations,
    before: ({ target, op, body }) => {
      state.requests.push({ target, body });
      const fault = faults.get(op);
      if (fault) {
        faults.delete(op);
        throw new AwsError(fault.type, fault.message, fault.status);
      }
    },
    rejected: state.rejected,
  });
  return { url: server.url, state, close: server.close };
}
