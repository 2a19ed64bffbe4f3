import type { Request } from "express";
import { paginate } from "./pagination.js";
import { boolParam, projectFor } from "./projects.js";
import { missingParam, notFound, type RouteModule } from "./server.js";
import type { DeploymentStatus, GitlabDeployment, GitlabEnvironment, GitlabProject, GitlabState } from "./state.js";

/**
 * Environments and deployments (https://docs.gitlab.com/api/environments/,
 * https://docs.gitlab.com/api/deployments/) as GitLab answers them, for what an external
 * deployer does: a deployment created `running` names its environment (made on first use),
 * then moves to success, failed or canceled. The state machine refuses a repeat (400
 * "Cannot transition status via ..."); everything needs Developer; lists are paginated.
 */
const requestable = ["running", "success", "failed", "canceled"] as const;
type Requested = (typeof requestable)[number];
/** Deployment's state machine: the event each status fires and the states it leaves from. */
const events: Record<Requested, { event: string; from: readonly DeploymentStatus[] }> = {
  running: { event: "run", from: ["created"] },
  success: { event: "succeed", from: ["created", "running", "failed", "canceled", "blocked"] },
  failed: { event: "drop", from: ["created", "running", "success", "canceled", "blocked"] },
  canceled: { event: "cancel", from: ["created", "running", "blocked"] },
};
const ENV_NAME = /^[a-zA-Z0-9_\-/${}. ]+$/;

function param(req: Request, name: string): unknown {
  return (req.body as Record<string, unknown> | undefined)?.[name] ?? req.query[name];
}

function envView(e: GitlabEnvironment) {
  return { id: e.id, name: e.name, slug: e.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase(), external_url: e.external_url, state: e.state };
}

function deploymentView(d: GitlabDeployment, state: GitlabState) {
  const env = state.environments.find((e) => e.id === d.environment_id);
  const u = state.users.find((x) => x.id === d.user_id);
  return {
    id: d.id,
    iid: d.iid,
    ref: d.ref,
    sha: d.sha,
    tag: d.tag,
    status: d.status,
    created_at: d.created_at,
    updated_at: d.updated_at,
    finished_at: d.finished_at,
    user: u ? { id: u.id, username: u.username, name: u.name, state: u.state } : null,
    environment: env ? envView(env) : null,
    deployable: null,
  };
}

function environmentNamed(state: GitlabState, project: GitlabProject, name: string): GitlabEnvironment {
  const found = state.environments.find((e) => e.project_id === project.id && e.name === name);
  if (found) return found;
  const env: GitlabEnvironment = {
    id: state.nextId(),
    project_id: project.id,
    name,
    external_url: null,
    state: "available",
    created_at: new Date().toISOString(),
  };
  state.environments.push(env);
  return env;
}

/** A URL GitLab accepts as external_url: http(s), at most 255 characters. */
function validExternalUrl(v: unknown): v is string {
  if (typeof v !== "string" || v.length > 255) return false;
  try {
    return ["http:", "https:"].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}

export const deploymentRoutes: RouteModule = (router, state, { baseUrl }) => {
  router.get("/projects/:id/environments", (req, res) => {
    const p = projectFor(state, req, res, "reporter");
    if (!p) return;
    const name = typeof req.query.name === "string" ? req.query.name : undefined;
    const list = state.environments.filter((e) => e.project_id === p.id && (name === undefined || e.name === name));
    const page = paginate(req, res, list, baseUrl());
    if (page) res.json(page.map(envView));
  });

  router.post("/projects/:id/environments", (req, res) => {
    const p = projectFor(state, req, res, "developer");
    if (!p) return;
    const name = param(req, "name");
    if (name === undefined || name === "") return missingParam(res, "name");
    if (typeof name !== "string" || !ENV_NAME.test(name)) return void res.status(400).json({ message: { name: ["is invalid"] } });
    if (state.environments.some((e) => e.project_id === p.id && e.name === name))
      return void res.status(400).json({ message: { name: ["has already been taken"] } });
    const url = param(req, "external_url");
    if (url !== undefined && !validExternalUrl(url))
      return void res.status(400).json({ message: { external_url: ["is blocked or invalid"] } });
    const env = environmentNamed(state, p, name);
    env.external_url = (url as string | undefined) ?? null;
    res.status(201).json(envView(env));
  });

  router.put("/projects/:id/environments/:envId", (req, res) => {
    const p = projectFor(state, req, res, "developer");
    if (!p) return;
    const env = state.environments.find((e) => e.project_id === p.id && e.id === Number(req.params.envId));
    if (!env) return notFound(res, "Environment");
    const url = param(req, "external_url");
    if (url !== undefined && !validExternalUrl(url))
      return void res.status(400).json({ message: { external_url: ["is blocked or invalid"] } });
    if (typeof url === "string") env.external_url = url;
    res.json(envView(env));
  });

  router.get("/projects/:id/deployments", (req, res) => {
    const p = projectFor(state, req, res, "reporter");
    if (!p) return;
    const q = (k: string) => (typeof req.query[k] === "string" && req.query[k] !== "" ? (req.query[k] as string) : undefined);
    const [envName, status] = [q("environment"), q("status")];
    if (status !== undefined && ![...requestable, "created", "blocked"].includes(status))
      return void res.status(400).json({ error: "status does not have a valid value" });
    let list = state.deployments.filter((d) => {
      if (d.project_id !== p.id || (status !== undefined && d.status !== status)) return false;
      if (envName === undefined) return true;
      return state.environments.find((e) => e.id === d.environment_id)?.name === envName;
    });
    const key = q("order_by") === "iid" ? "iid" : "id";
    list = [...list].sort((a, b) => (a[key] - b[key]) * (q("sort") === "desc" ? -1 : 1));
    const page = paginate(req, res, list, baseUrl());
    if (page) res.json(page.map((d) => deploymentView(d, state)));
  });

  router.get("/projects/:id/deployments/:deploymentId", (req, res) => {
    const p = projectFor(state, req, res, "reporter");
    if (!p) return;
    const d = state.deployments.find((x) => x.project_id === p.id && x.id === Number(req.params.deploymentId));
    if (!d) return notFound(res, "Deployment");
    res.json(deploymentView(d, state));
  });

  router.post("/projects/:id/deployments", (req, res) => {
    for (const name of ["environment", "sha", "ref", "tag", "status"]) {
      const v = param(req, name);
      if (v === undefined || v === "") return missingParam(res, name);
    }
    const status = param(req, "status");
    if (!requestable.includes(status as Requested)) return void res.status(400).json({ error: "status does not have a valid value" });
    const tag = boolParam(param(req, "tag"), false);
    if (tag === "invalid") return void res.status(400).json({ error: "tag is invalid" });
    const p = projectFor(state, req, res, "developer");
    if (!p) return;
    const [envName, sha, ref] = [param(req, "environment"), param(req, "sha"), param(req, "ref")].map(String) as [string, string, string];
    if (!ENV_NAME.test(envName)) return void res.status(400).json({ message: { environment: ["is invalid"] } });
    const env = environmentNamed(state, p, envName);
    const now = new Date().toISOString();
    const d: GitlabDeployment = {
      id: state.nextId(),
      iid: state.deployments.filter((x) => x.project_id === p.id).length + 1,
      project_id: p.id,
      environment_id: env.id,
      ref,
      sha,
      tag,
      status: status as DeploymentStatus,
      user_id: res.locals.user.id as number,
      created_at: now,
      updated_at: now,
      finished_at: status === "running" ? null : now,
    };
    state.deployments.push(d);
    res.status(201).json(deploymentView(d, state));
  });

  router.put("/projects/:id/deployments/:deploymentId", (req, res) => {
    const status = param(req, "status");
    if (status === undefined || status === "") return missingParam(res, "status");
    if (!requestable.includes(status as Requested)) return void res.status(400).json({ error: "status does not have a valid value" });
    const p = projectFor(state, req, res, "developer");
    if (!p) return;
    const d = state.deployments.find((x) => x.project_id === p.id && x.id === Number(req.params.deploymentId));
    if (!d) return notFound(res, "Deployment");
    const { event, from } = events[status as Requested];
    if (!from.includes(d.status)) {
      return void res.status(400).json({ message: `Cannot transition status via :${event} from :${d.status}` });
    }
    d.status = status as DeploymentStatus;
    d.updated_at = new Date().toISOString();
    if (status !== "running") d.finished_at = d.updated_at;
    res.json(deploymentView(d, state));
  });
};
