import { once } from "node:events";
import type { AddressInfo } from "node:net";
import express, { type Request, type Response } from "express";
import { type EcsDeployment, type EcsService, EcsState, type Json } from "./state.js";

/**
 * An Amazon ECS API test server speaking AWS JSON 1.1 (`X-Amz-Target:
 * AmazonEC2ContainerServiceV20141113.<Operation>`), for the real @aws-sdk/client-ecs pointed at
 * it through `endpoint`. It serves DescribeServices, DescribeTaskDefinition,
 * RegisterTaskDefinition and UpdateService, answers errors in AWS's shape
 * (`{"__type": "ServiceNotFoundException", "message": ...}`), and plays each service's rollout
 * by its script, one step per DescribeServices call. Test support only.
 */
export interface EcsTestServer {
  url: string;
  state: EcsState;
  close(): Promise<void>;
}

const PREFIX = "AmazonEC2ContainerServiceV20141113.";

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Op = (state: EcsState, body: Json) => Json;

function serviceOf(state: EcsState, body: Json): EcsService {
  const cluster = state.clusterName(body.cluster as string | undefined);
  if (!state.clusters.has(cluster)) throw new AwsError("ClusterNotFoundException", "Cluster not found.");
  const ref = String(body.service ?? "");
  const name = ref.startsWith("arn:") ? (ref.split("/").pop() ?? ref) : ref;
  const svc = state.services.get(`${cluster}/${name}`);
  if (!svc) throw new AwsError("ServiceNotFoundException", "Service not found.");
  if (svc.status !== "ACTIVE") throw new AwsError("ServiceNotActiveException", "Service was not ACTIVE.");
  return svc;
}

/** One step of every unsettled deployment of a service, as time passing between two DescribeServices calls. */
function advance(state: EcsState, svc: EcsService): void {
  const now = Date.now() / 1000;
  for (const d of [...svc.deployments]) {
    if (d.rolloutState !== "IN_PROGRESS" || d.plays === "hang" || d.settleIn === undefined) continue;
    if (d.settleIn > 0) {
      d.settleIn--;
      continue;
    }
    d.updatedAt = now;
    if (d.plays === "complete" || d.plays === "rollback") {
      d.rolloutState = "COMPLETED";
      d.runningCount = d.desiredCount;
      d.rolloutStateReason = `ECS deployment ${d.id} completed.`;
      svc.deployments = svc.deployments.filter((o) => o === d);
    } else if (d.plays === "fail") {
      d.rolloutState = "FAILED";
      d.status = "ACTIVE";
      d.rolloutStateReason = d.failReason ?? "ECS deployment circuit breaker: tasks failed to start.";
      const breaker = (svc.deploymentConfiguration.deploymentCircuitBreaker ?? {}) as { enable?: boolean; rollback?: boolean };
      const previous = svc.deployments.find((o) => o !== d && o.rolloutState === "COMPLETED");
      if (breaker.enable && breaker.rollback && previous) {
        // The circuit breaker redeploys the last completed task definition as the new primary.
        const back: EcsDeployment = {
          ...state.deployment(previous.taskDefinition, "IN_PROGRESS", now),
          plays: "rollback",
          settleIn: d.rollbackAfter ?? 1,
        };
        svc.deployments = [back, d];
        svc.taskDefinition = previous.taskDefinition;
      }
    }
  }
}

const ops: Record<string, Op> = {
  DescribeServices(state, body) {
    const cluster = state.clusterName(body.cluster as string | undefined);
    if (!state.clusters.has(cluster)) throw new AwsError("ClusterNotFoundException", "Cluster not found.");
    const names = body.services;
    if (!Array.isArray(names) || names.length === 0 || names.length > 10) {
      throw new AwsError("InvalidParameterException", "services must name 1 to 10 services.");
    }
    const services: Json[] = [];
    const failures: Json[] = [];
    for (const ref of names as string[]) {
      const name = ref.startsWith("arn:") ? (ref.split("/").pop() ?? ref) : ref;
      const svc = state.services.get(`${cluster}/${name}`);
      if (!svc) {
        failures.push({ arn: `arn:aws:ecs:${state.region}:123456789012:service/${cluster}/${name}`, reason: "MISSING" });
        continue;
      }
      advance(state, svc);
      const { script: _script, deployments, ...shown } = svc;
      services.push({
        ...shown,
        deployments: deployments.map(({ settleIn: _s, plays: _p, failReason: _f, rollbackAfter: _r, ...d }) => d),
      });
    }
    return { services, failures };
  },

  DescribeTaskDefinition(state, body) {
    const td = state.findTaskDefinition(String(body.taskDefinition ?? ""));
    if (!td) throw new AwsError("ClientException", "Unable to describe task definition.");
    return { taskDefinition: td, tags: [] };
  },

  RegisterTaskDefinition(state, body) {
    if (typeof body.family !== "string" || !/^[A-Za-z0-9_-]{1,255}$/.test(body.family)) {
      throw new AwsError("ClientException", "Family contains invalid characters or is missing.");
    }
    const defs = body.containerDefinitions;
    if (!Array.isArray(defs) || defs.length === 0) throw new AwsError("ClientException", "Container definitions must not be empty.");
    for (const d of defs as Json[]) {
      if (typeof d.name !== "string" || typeof d.image !== "string") {
        throw new AwsError("ClientException", "Container.name and Container.image should not be null or empty.");
      }
    }
    for (const readOnly of [
      "taskDefinitionArn",
      "revision",
      "status",
      "registeredAt",
      "registeredBy",
      "compatibilities",
      "requiresAttributes",
    ]) {
      if (readOnly in body) throw new AwsError("SerializationException", `Unexpected field ${readOnly}`);
    }
    return { taskDefinition: state.register(body), tags: [] };
  },

  UpdateService(state, body) {
    const svc = serviceOf(state, body);
    if (body.deploymentConfiguration) svc.deploymentConfiguration = body.deploymentConfiguration as Json;
    if (typeof body.taskDefinition === "string") {
      const td = state.findTaskDefinition(body.taskDefinition);
      if (!td) throw new AwsError("ClientException", "TaskDefinition not found.");
      const arn = String(td.taskDefinitionArn);
      const now = Date.now() / 1000;
      for (const d of svc.deployments) d.status = "ACTIVE";
      const script = svc.script;
      const next: EcsDeployment = {
        ...state.deployment(arn, "IN_PROGRESS", now),
        plays: script.kind,
        settleIn: script.kind === "hang" ? undefined : script.after,
        ...(script.kind === "fail" ? { failReason: script.reason, rollbackAfter: script.rollbackAfter } : {}),
      };
      svc.deployments = [next, ...svc.deployments.filter((d) => d.rolloutState === "COMPLETED" || d.rolloutState === "IN_PROGRESS")];
      svc.taskDefinition = arn;
    }
    const { script: _script, deployments, ...shown } = svc;
    return {
      service: { ...shown, deployments: deployments.map(({ settleIn: _s, plays: _p, failReason: _f, rollbackAfter: _r, ...d }) => d) },
    };
  },
};

function send(res: Response, status: number, body: Json): void {
  res
    .status(status)
    .set("content-type", "application/x-amz-json-1.1")
    .set("x-amzn-requestid", crypto.randomUUID())
    .send(JSON.stringify(body));
}

export async function startEcsServer(state = new EcsState()): Promise<EcsTestServer> {
  const app = express();
  app.use(express.json({ type: () => true, limit: "1mb" }));
  app.post("/", (req: Request, res: Response) => {
    const target = req.get("x-amz-target") ?? "";
    const op = target.startsWith(PREFIX) ? target.slice(PREFIX.length) : "";
    const body = (req.body ?? {}) as Json;
    state.requests.push({ op, body });
    try {
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(req.get("authorization") ?? "")) {
        throw new AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 400);
      }
      const handler = ops[op];
      if (!handler) throw new AwsError("UnknownOperationException", `unknown operation ${target}`);
      const fault = state.faults.find((f) => f.remaining > 0 && (f.target === op || f.target === "*"));
      if (fault) {
        fault.remaining--;
        throw new AwsError(fault.type, fault.message, fault.status);
      }
      send(res, 200, handler(state, body));
    } catch (err) {
      if (err instanceof AwsError) send(res, err.status, { __type: err.type, message: err.message });
      else send(res, 500, { __type: "ServerException", message: (err as Error).message });
    }
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
