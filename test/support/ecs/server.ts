import { AwsError } from "../aws/errors.js";
import { startAwsJsonServer, TEST_AWS_CREDENTIALS } from "../aws/json-server.js";
import type { AwsTestCredentials } from "../aws/sigv4.js";
import { type EcsDeployment, type EcsService, EcsState, type Json } from "./state.js";

/**
 * An Amazon ECS API test server speaking AWS JSON 1.1 (`X-Amz-Target:
 * AmazonEC2ContainerServiceV20141113.<Operation>`), for the real @aws-sdk/client-ecs pointed at
 * it through `endpoint`. It serves DescribeServices, DescribeTaskDefinition,
 * RegisterTaskDefinition, UpdateService, CreateService and DeleteService, answers errors in AWS's shape
 * (`{"__type": "ServiceNotFoundException", "message": ...}`), and plays each service's rollout
 * by its script as time passes on the state's clock, however often it is asked. One server is
 * one regional endpoint: every call is SigV4-verified for service `ecs` in the state's region
 * (5 minutes of clock skew), so a client signing for another region is refused as by AWS.
 * Test support only.
 */
export interface EcsTestServer {
  url: string;
  state: EcsState;
  close(): Promise<void>;
}

const PREFIX = "AmazonEC2ContainerServiceV20141113.";

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

/**
 * Plays every deployment of a service whose time has come, in time order, as ECS would have while
 * nobody was looking: a deployment settles at its `settlesAt`, and a circuit-breaker rollback it
 * starts settles `rollbackAfterMs` after that.
 */
function settle(state: EcsState, svc: EcsService): void {
  const now = state.clock();
  for (;;) {
    // Only the PRIMARY deployment rolls out: an older one that UpdateService made ACTIVE is being
    // replaced (ECS drains it) and never completes over the newer one.
    const due = svc.deployments
      .filter((d) => d.status === "PRIMARY" && d.rolloutState === "IN_PROGRESS" && d.settlesAt !== undefined && d.settlesAt <= now)
      .sort((a, b) => (a.settlesAt as number) - (b.settlesAt as number))[0];
    if (!due) return;
    const at = due.settlesAt as number;
    due.updatedAt = at / 1000;
    if (due.plays === "complete" || due.plays === "rollback") {
      due.rolloutState = "COMPLETED";
      due.runningCount = due.desiredCount;
      due.rolloutStateReason = `ECS deployment ${due.id} completed.`;
      svc.deployments = svc.deployments.filter((o) => o === due);
    } else if (due.plays === "fail") {
      due.rolloutState = "FAILED";
      due.status = "ACTIVE";
      due.rolloutStateReason = due.failReason ?? "ECS deployment circuit breaker: tasks failed to start.";
      const breaker = (svc.deploymentConfiguration.deploymentCircuitBreaker ?? {}) as { enable?: boolean; rollback?: boolean };
      const previous = svc.deployments.find((o) => o !== due && o.rolloutState === "COMPLETED");
      if (breaker.enable && breaker.rollback && previous) {
        // The circuit breaker redeploys the last completed task definition as the new primary.
        const back: EcsDeployment = {
          ...state.deployment(previous.taskDefinition, "IN_PROGRESS", at / 1000),
          plays: "rollback",
          settlesAt: at + (due.rollbackAfterMs ?? state.rolloutMs),
        };
        svc.deployments = [back, due];
        svc.taskDefinition = previous.taskDefinition;
      }
    }
  }
}

/** A service as the API shows it, without the server's bookkeeping. */
function shown(svc: EcsService): Json {
  const { script: _script, inactiveAt: _i, deployments, ...rest } = svc;
  return {
    ...rest,
    deployments: deployments.map(({ settlesAt: _s, plays: _p, failReason: _f, rollbackAfterMs: _r, ...d }) => d),
  };
}

/** A deleted service drains (DRAINING) for the state's rollout time, then is INACTIVE. */
function drain(state: EcsState, svc: EcsService): void {
  if (svc.status === "DRAINING" && svc.inactiveAt !== undefined && svc.inactiveAt <= state.clock()) svc.status = "INACTIVE";
}

const SERVICE_NAME = /^[A-Za-z0-9_-]{1,255}$/;

const ops: Record<string, Op> = {
  CreateService(state, body) {
    const cluster = state.clusterName(body.cluster as string | undefined);
    if (!state.clusters.has(cluster)) throw new AwsError("ClusterNotFoundException", "Cluster not found.");
    const name = body.serviceName;
    if (typeof name !== "string" || !SERVICE_NAME.test(name)) {
      throw new AwsError("InvalidParameterException", "serviceName must be 1 to 255 letters, numbers, hyphens and underscores.");
    }
    const existing = state.services.get(`${cluster}/${name}`);
    if (existing) drain(state, existing);
    // As ECS: a name in use (ACTIVE, or DRAINING after a delete) cannot be created again.
    if (existing && existing.status !== "INACTIVE")
      throw new AwsError("InvalidParameterException", "Creation of service was not idempotent.");
    const td = state.findTaskDefinition(String(body.taskDefinition ?? ""));
    if (!td) throw new AwsError("ClientException", "TaskDefinition not found.");
    const desired = body.desiredCount ?? 0;
    if (typeof desired !== "number" || !Number.isInteger(desired) || desired < 0)
      throw new AwsError("InvalidParameterException", "desiredCount must be a non-negative integer.");
    const launchType = String(body.launchType ?? "EC2");
    if (launchType === "FARGATE" && String((td.networkMode as string | undefined) ?? "") === "awsvpc" && !body.networkConfiguration) {
      throw new AwsError("InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.");
    }
    const svc = state.addService(cluster, name, String(td.taskDefinitionArn), { kind: "complete" });
    svc.desiredCount = desired;
    svc.launchType = launchType;
    if (body.networkConfiguration) svc.networkConfiguration = body.networkConfiguration as Json;
    if (body.deploymentConfiguration) svc.deploymentConfiguration = body.deploymentConfiguration as Json;
    for (const d of svc.deployments) {
      d.desiredCount = desired;
      d.runningCount = desired;
    }
    return { service: shown(svc) };
  },

  DeleteService(state, body) {
    const svc = serviceOf(state, body);
    settle(state, svc);
    if (svc.desiredCount > 0 && body.force !== true) {
      throw new AwsError("InvalidParameterException", "The service cannot be stopped while it is scaled above 0.");
    }
    svc.status = "DRAINING";
    svc.desiredCount = 0;
    svc.inactiveAt = state.clock() + state.rolloutMs;
    return { service: shown(svc) };
  },

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
      settle(state, svc);
      drain(state, svc);
      services.push(shown(svc));
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
    settle(state, svc);
    if (body.deploymentConfiguration) svc.deploymentConfiguration = body.deploymentConfiguration as Json;
    if ("desiredCount" in body) {
      if (typeof body.desiredCount !== "number" || !Number.isInteger(body.desiredCount) || body.desiredCount < 0)
        throw new AwsError("InvalidParameterException", "desiredCount must be a non-negative integer.");
      svc.desiredCount = body.desiredCount;
    }
    if (typeof body.taskDefinition === "string") {
      const td = state.findTaskDefinition(body.taskDefinition);
      if (!td) throw new AwsError("ClientException", "TaskDefinition not found.");
      const arn = String(td.taskDefinitionArn);
      const now = state.clock();
      for (const d of svc.deployments) d.status = "ACTIVE";
      const script = svc.script;
      const next: EcsDeployment = {
        ...state.deployment(arn, "IN_PROGRESS", now / 1000),
        plays: script.kind,
        settlesAt: script.kind === "hang" ? undefined : now + (script.afterMs ?? state.rolloutMs),
        ...(script.kind === "fail" ? { failReason: script.reason, rollbackAfterMs: script.rollbackAfterMs } : {}),
      };
      svc.deployments = [next, ...svc.deployments.filter((d) => d.rolloutState === "COMPLETED" || d.rolloutState === "IN_PROGRESS")];
      svc.taskDefinition = arn;
    }
    return { service: shown(svc) };
  },
};

export interface EcsServerOptions {
  /** Key pairs ECS knows; TEST_AWS_CREDENTIALS by default. */
  credentials?: readonly AwsTestCredentials[];
}

export async function startEcsServer(state = new EcsState(), opts: EcsServerOptions = {}): Promise<EcsTestServer> {
  const server = await startAwsJsonServer({
    service: "ecs",
    targetPrefix: PREFIX,
    region: () => state.region,
    credentials: opts.credentials ?? [TEST_AWS_CREDENTIALS],
    clock: () => state.clock(),
    maxSkewMs: 5 * 60_000,
    internalErrorType: "ServerException",
    operations: Object.fromEntries(Object.entries(ops).map(([name, op]) => [name, (body: Json) => op(state, body)])),
    before: ({ op, body }) => {
      state.requests.push({ op, body });
      const fault = state.faults.find((f) => f.remaining > 0 && (f.target === op || f.target === "*"));
      if (fault) {
        fault.remaining--;
        throw new AwsError(fault.type, fault.message, fault.status);
      }
    },
    rejected: state.rejected,
  });
  return { url: server.url, state, close: server.close };
}
