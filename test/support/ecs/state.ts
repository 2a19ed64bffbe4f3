import type { AwsRejection } from "../aws/json-server.js";

/**
 * State of the ECS test server: clusters, services with their deployments, and registered task
 * definitions, shaped like the ECS API's JSON. Test support only.
 */
export type Json = Record<string, unknown>;

/**
 * How a service's next rollout plays out, in time on the state's clock: it settles `afterMs` after
 * UpdateService (the state's `rolloutMs` when unset), however often DescribeServices asks.
 */
export type RolloutScript =
  | { kind: "complete"; afterMs?: number }
  /** The circuit breaker fails the deployment; with rollback on, the previous task definition is redeployed and settles `rollbackAfterMs` later. */
  | { kind: "fail"; afterMs?: number; reason?: string; rollbackAfterMs?: number }
  | { kind: "hang" };

export interface EcsDeployment {
  id: string;
  status: "PRIMARY" | "ACTIVE" | "INACTIVE";
  taskDefinition: string;
  rolloutState: "IN_PROGRESS" | "COMPLETED" | "FAILED";
  rolloutStateReason: string;
  desiredCount: number;
  runningCount: number;
  createdAt: number;
  updatedAt: number;
  /** When (ms on the state's clock) this deployment settles; for the server's bookkeeping only, like the fields below. */
  settlesAt?: number;
  plays?: "complete" | "fail" | "hang" | "rollback";
  failReason?: string;
  rollbackAfterMs?: number;
}

export interface EcsService {
  serviceName: string;
  serviceArn: string;
  clusterArn: string;
  status: "ACTIVE" | "DRAINING" | "INACTIVE";
  desiredCount: number;
  taskDefinition: string;
  launchType: string;
  /** awsvpc services' subnets and security groups (`{ awsvpcConfiguration: {...} }`), as given. */
  networkConfiguration?: Json;
  deploymentConfiguration: Json;
  /** When (ms on the state's clock) a deleted (DRAINING) service becomes INACTIVE. */
  inactiveAt?: number;
  deployments: EcsDeployment[];
  script: RolloutScript;
}

export interface EcsFault {
  target: string;
  type: string;
  message: string;
  status: number;
  remaining: number;
}

export const ACCOUNT = "123456789012";

export interface EcsStateOptions {
  /** The region the endpoint serves: SigV4 scope and ARNs. */
  region?: string;
  /** The clock rollouts and signature dates are measured on (ms since the epoch). */
  clock?: () => number;
  /** How long a rollout takes when its script names no time. */
  rolloutMs?: number;
}

export class EcsState {
  region: string;
  clock: () => number;
  rolloutMs: number;
  clusters = new Set<string>();
  services = new Map<string, EcsService>();
  taskDefinitions = new Map<string, Json>();
  revisions = new Map<string, number>();
  /** Every authenticated request, in order: X-Amz-Target's operation and the parsed body. */
  requests: { op: string; body: Json }[] = [];
  /** Requests refused by SigV4 verification, with ECS's error. */
  rejected: AwsRejection[] = [];
  faults: EcsFault[] = [];
  private seq = 0;

  constructor(opts: EcsStateOptions = {}) {
    this.region = opts.region ?? "eu-west-1";
    this.clock = opts.clock ?? Date.now;
    this.rolloutMs = opts.rolloutMs ?? 300;
  }

  /** The clock in seconds, as ECS's timestamps are. */
  nowS(): number {
    return this.clock() / 1000;
  }

  clusterArn(cluster: string): string {
    return `arn:aws:ecs:${this.region}:${ACCOUNT}:cluster/${cluster}`;
  }

  /** Accepts a cluster name or ARN. */
  clusterName(ref: string | undefined): string {
    const r = ref ?? "default";
    return r.startsWith("arn:") ? (r.split("/").pop() ?? r) : r;
  }

  /** Registers a task definition revision and returns it as DescribeTaskDefinition shows it. */
  register(input: Json): Json {
    const family = String(input.family);
    const revision = (this.revisions.get(family) ?? 0) + 1;
    this.revisions.set(family, revision);
    const arn = `arn:aws:ecs:${this.region}:${ACCOUNT}:task-definition/${family}:${revision}`;
    const td: Json = {
      ...input,
      taskDefinitionArn: arn,
      revision,
      status: "ACTIVE",
      compatibilities: ["EC2", "FARGATE"],
      requiresAttributes: [{ name: "com.amazonaws.ecs.capability.docker-remote-api.1.18" }],
      registeredAt: this.nowS(),
      registeredBy: `arn:aws:iam::${ACCOUNT}:user/hoist`,
    };
    this.taskDefinitions.set(arn, td);
    return td;
  }

  /** Resolves `family`, `family:rev` or an ARN. */
  findTaskDefinition(ref: string): Json | undefined {
    if (ref.startsWith("arn:")) return this.taskDefinitions.get(ref);
    const [family, rev] = ref.split(":");
    const revision = rev ? Number(rev) : this.revisions.get(family ?? "");
    return this.taskDefinitions.get(`arn:aws:ecs:${this.region}:${ACCOUNT}:task-definition/${family}:${revision}`);
  }

  addService(cluster: string, name: string, taskDefinitionArn: string, script: RolloutScript = { kind: "complete" }): EcsService {
    this.clusters.add(cluster);
    const now = this.nowS();
    const svc: EcsService = {
      serviceName: name,
      serviceArn: `arn:aws:ecs:${this.region}:${ACCOUNT}:service/${cluster}/${name}`,
      clusterArn: this.clusterArn(cluster),
      status: "ACTIVE",
      desiredCount: 2,
      taskDefinition: taskDefinitionArn,
      launchType: "FARGATE",
      deploymentConfiguration: { maximumPercent: 200, minimumHealthyPercent: 100 },
      deployments: [this.deployment(taskDefinitionArn, "COMPLETED", now)],
      script,
    };
    this.services.set(`${cluster}/${name}`, svc);
    return svc;
  }

  deployment(taskDefinition: string, rolloutState: EcsDeployment["rolloutState"], now = this.nowS()): EcsDeployment {
    const id = `ecs-svc/${String(++this.seq).padStart(19, "0")}`;
    return {
      id,
      status: "PRIMARY",
      taskDefinition,
      rolloutState,
      rolloutStateReason: rolloutState === "COMPLETED" ? `ECS deployment ${id} completed.` : `ECS deployment ${id} in progress.`,
      desiredCount: 2,
      runningCount: rolloutState === "COMPLETED" ? 2 : 0,
      createdAt: now,
      updatedAt: now,
    };
  }

  /** Makes the next request for `target` (e.g. "UpdateService", or "*") fail with an AWS error. */
  failNext(target: string, type: string, message: string, times = 1, status = 400): void {
    this.faults.push({ target, type, message, status, remaining: times });
  }

  ops(op: string): Json[] {
    return this.requests.filter((r) => r.op === op).map((r) => r.body);
  }
}
