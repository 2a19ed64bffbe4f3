import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An Amazon ECR test server speaking the AWS JSON 1.1 protocol the SDK uses
 * (`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`), for the operations the
 * builder calls. Shapes and errors follow the ECR API reference: errors are HTTP 400 with
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
  requests: { target: string; body: Record<string, unknown>; authorized: boolean }[];
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

class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.on("data", (c: Buffer) => {
      data += c.toString("utf8");
    });
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

export async function startEcrServer(init: {
  proxyEndpoint: string;
  password: string;
  accountId?: string;
  region?: string;
}): Promise<EcrServer> {
  const faults = new Map<string, { status: number; type: string; message: string }>();
  const state: EcrState = {
    accountId: init.accountId ?? "123456789012",
    region: init.region ?? "eu-west-1",
    proxyEndpoint: init.proxyEndpoint,
    password: init.password,
    repositories: new Map(),
    requests: [],
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
      throw new AwsError(400, "RegistryNotFoundException", `The registry with id '${String(id)}' does not exist`);
    }
  };

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    GetAuthorizationToken: (body) => {
      const ids = body.registryIds;
      if (ids !== undefined && (!Array.isArray(ids) || ids.some((i) => i !== state.accountId))) {
        throw new AwsError(
          400,
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
              400,
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
          400,
          "InvalidParameterException",
          `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '${repoNameRe.source}''`,
        );
      }
      if (state.repositories.has(name)) {
        throw new AwsError(
          400,
          "RepositoryAlreadyExistsException",
          `The repository with name '${name}' already exists in the registry with id '${state.accountId}'`,
        );
      }
      state.repositories.set(name, { createdAt: Date.now() });
      return { repository: repository(name) };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: unknown, type?: string) => {
      res.writeHead(status, {
        "Content-Type": "application/x-amz-json-1.1",
        "x-amzn-RequestId": `req-${state.requests.length}`,
        ...(type ? { "x-amzn-ErrorType": type } : {}),
      });
      res.end(JSON.stringify(body));
    };
    try {
      const raw = await readBody(req);
      const target = String(req.headers["x-amz-target"] ?? "");
      const authorized =
        /^AWS4-HMAC-SHA256 Credential=\S+\/\d{8}\/[a-z0-9-]+\/ecr\/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$/.test(
          String(req.headers.authorization ?? ""),
        );
      let body: Record<string, unknown>;
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        throw new AwsError(400, "SerializationException", "Start of structure or map found where not expected");
      }
      state.requests.push({ target, body, authorized });
      if (req.method !== "POST" || !String(req.headers["content-type"] ?? "").startsWith("application/x-amz-json-1.1")) {
        throw new AwsError(400, "UnknownOperationException", "The requested operation is not recognized");
      }
      if (!authorized) throw new AwsError(400, "MissingAuthenticationTokenException", "Missing Authentication Token");
      const op = target.startsWith(PREFIX) ? target.slice(PREFIX.length) : "";
      const fn = operations[op];
      if (!fn) throw new AwsError(400, "UnknownOperationException", `The requested operation ${target} is not recognized`);
      const fault = faults.get(op);
      if (fault) {
        faults.delete(op);
        throw new AwsError(fault.status, fault.type, fault.message);
      }
      send(200, fn(body));
    } catch (err) {
      if (err instanceof AwsError) send(err.status, { __type: err.type, message: err.message }, err.type);
      else send(500, { __type: "ServerException", message: (err as Error).message }, "ServerException");
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
