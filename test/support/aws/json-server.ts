import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AwsError } from "./errors.js";
import { type AwsTestCredentials, verifySigV4 } from "./sigv4.js";

export type Json = Record<string, unknown>;

/** The key pair every AWS test server accepts unless a test names others. */
export const TEST_AWS_CREDENTIALS: AwsTestCredentials = {
  accessKeyId: "AKIAHOISTTEST0000001",
  secretAccessKey: "hoist/test+secret/wJalrXUtnFEMIK7MDENGbPxRfiCY",
};

export interface AwsCall {
  target: string;
  op: string;
  body: Json;
  accessKeyId: string;
}

/** A request the server refused before any operation ran (authentication), with the error it answered. */
export interface AwsRejection {
  target: string;
  type: string;
  message: string;
}

export interface AwsJsonServerOptions {
  /** SigV4 signing name: "kms", "ecs", "ecr". */
  service: string;
  /** X-Amz-Target's prefix before the operation, e.g. "TrentService.". */
  targetPrefix: string;
  /** The region this endpoint serves, read per request. */
  region: () => string;
  credentials: readonly AwsTestCredentials[];
  /** The server's clock (ms since the epoch); it also writes the responses' Date header, as the SDK's skew correction reads it. */
  clock: () => number;
  /** The clock skew the service tolerates. */
  maxSkewMs: number;
  /** The `__type` of the service's own 500s. */
  internalErrorType: string;
  operations: Record<string, (body: Json, call: AwsCall) => unknown>;
  /** Runs for every authenticated call before its operation: recording, fault injection (throw an AwsError). */
  before?: (call: AwsCall) => void;
  rejected: AwsRejection[];
}

export interface AwsJsonServer {
  url: string;
  close(): Promise<void>;
}

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The AWS JSON 1.1 protocol as KMS, ECS and ECR speak it, shared by their test servers: POST to
 * `/`, `X-Amz-Target: <prefix><Operation>`, every request SigV4-verified against the endpoint's
 * region and service before anything else, errors as `{"__type", "message"}` with
 * `x-amzn-ErrorType`. Test support only.
 */
export async function startAwsJsonServer(opts: AwsJsonServerOptions): Promise<AwsJsonServer> {
  const answer = (res: ServerResponse, status: number, body: unknown, errorType?: string) => {
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.1",
      "x-amzn-requestid": crypto.randomUUID(),
      date: new Date(opts.clock()).toUTCString(),
      ...(errorType ? { "x-amzn-errortype": errorType } : {}),
    });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const target = String(req.headers["x-amz-target"] ?? "");
    try {
      const raw = await readRaw(req);
      if (req.method !== "POST") throw new AwsError("UnknownOperationException", "", 404);
      let accessKeyId: string;
      try {
        ({ accessKeyId } = verifySigV4(
          { method: req.method, url: req.url ?? "/", rawHeaders: req.rawHeaders, body: raw },
          { service: opts.service, region: opts.region(), credentials: opts.credentials, now: opts.clock(), maxSkewMs: opts.maxSkewMs },
        ));
      } catch (err) {
        if (err instanceof AwsError) opts.rejected.push({ target, type: err.type, message: err.message });
        throw err;
      }
      if (!String(req.headers["content-type"] ?? "").startsWith("application/x-amz-json-1.1")) {
        throw new AwsError("UnknownOperationException", "The requested operation is not recognized");
      }
      const op = target.startsWith(opts.targetPrefix) ? target.slice(opts.targetPrefix.length) : "";
      const operation = Object.hasOwn(opts.operations, op) ? opts.operations[op] : undefined;
      if (!operation) throw new AwsError("UnknownOperationException", `The requested operation ${target} is not recognized`);
      let body: Json;
      try {
        const parsed: unknown = JSON.parse(raw.toString("utf8") || "{}");
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
        body = parsed as Json;
      } catch {
        throw new AwsError("SerializationException", "Start of structure or map found where not expected.");
      }
      const call = { target, op, body, accessKeyId };
      opts.before?.(call);
      answer(res, 200, await operation(body, call));
    } catch (err) {
      if (err instanceof AwsError) answer(res, err.status, { __type: err.type, message: err.message }, err.type);
      else answer(res, 500, { __type: opts.internalErrorType, message: (err as Error).message }, opts.internalErrorType);
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
