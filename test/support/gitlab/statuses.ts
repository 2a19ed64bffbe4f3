import type { Request, Response } from "express";
import type { RouteModule } from "./server.js";
import { gitlabUserOf, missingParam, notFound } from "./server.js";
import type { GitlabCommitStatus, GitlabProject, GitlabState } from "./state.js";

/**
 * Commit statuses (https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit):
 * `POST /projects/:id/statuses/:sha` and `GET /projects/:id/repository/commits/:sha/statuses`.
 * Transitions follow GitLab's commit status state machine: a status of the same name, sha and
 * ref moves pending → running → success | failed | canceled; anything else (a repeat, or a
 * change after a finished state) is refused with 400 "Cannot transition status via :event from
 * :state", as GitLab answers.
 */
const states = ["pending", "running", "success", "failed", "canceled"] as const;
type State = (typeof states)[number];

/** GitLab's state machine event for each requested state. */
const eventOf: Record<State, string> = { pending: "enqueue", running: "run", success: "success", failed: "drop", canceled: "cancel" };
/** Which current states each requested state may follow. */
const allowedFrom: Record<State, readonly State[]> = {
  pending: [],
  running: ["pending"],
  success: ["pending", "running"],
  failed: ["pending", "running"],
  canceled: ["pending", "running"],
};

/** Every accepted change, in order, per server state: what a commit page's history would show. */
const histories = new WeakMap<GitlabState, { name: string; sha: string; status: State; description: string | null }[]>();
export function statusHistory(state: GitlabState) {
  const h = histories.get(state) ?? [];
  histories.set(state, h);
  return h;
}

export function findProject(state: GitlabState, id: string): GitlabProject | undefined {
  const decoded = decodeURIComponent(id);
  return state.projects.find((p) => String(p.id) === decoded || p.path_with_namespace === decoded);
}

function param(req: Request, name: string): string | undefined {
  const v = (req.body as Record<string, unknown> | undefined)?.[name] ?? req.query[name];
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
}

function render(s: GitlabCommitStatus, res: Response) {
  const u = gitlabUserOf(res);
  return {
    ...s,
    started_at: null,
    finished_at: ["success", "failed", "canceled"].includes(s.status) ? s.created_at : null,
    allow_failure: false,
    coverage: null,
    author: { id: u.id, username: u.username, name: u.name, state: u.state },
  };
}

export const statusRoutes: RouteModule = (router, state) => {
  router.post("/projects/:id/statuses/:sha", (req, res) => {
    const project = findProject(state, String(req.params.id));
    if (!project) return notFound(res, "Project");
    const sha = String(req.params.sha);
    if (!/^[0-9a-f]{7,40}$/.test(sha)) return notFound(res, "Commit");
    const requested = param(req, "state");
    if (requested === undefined) return missingParam(res, "state");
    if (!states.includes(requested as State)) {
      res.status(400).json({ error: "state does not have a valid value" });
      return;
    }
    const next = requested as State;
    const name = param(req, "name") ?? param(req, "context") ?? "default";
    const ref = param(req, "ref") ?? null;
    const existing = state.statuses.find((s) => s.project_id === project.id && s.sha === sha && s.name === name && s.ref === ref);
    if (existing && !allowedFrom[next].includes(existing.status)) {
      res.status(400).json({ message: `Cannot transition status via :${eventOf[next]} from :${existing.status}` });
      return;
    }
    const description = param(req, "description") ?? null;
    const targetUrl = param(req, "target_url") ?? null;
    let status: GitlabCommitStatus;
    if (existing) {
      existing.status = next;
      if (description !== null) existing.description = description;
      if (targetUrl !== null) existing.target_url = targetUrl;
      status = existing;
    } else {
      status = {
        id: state.nextId(),
        project_id: project.id,
        sha,
        ref,
        status: next,
        name,
        target_url: targetUrl,
        description,
        created_at: new Date().toISOString(),
      };
      state.statuses.push(status);
    }
    statusHistory(state).push({ name, sha, status: next, description: status.description });
    res.status(201).json(render(status, res));
  });

  router.get("/projects/:id/repository/commits/:sha/statuses", (req, res) => {
    const project = findProject(state, String(req.params.id));
    if (!project) return notFound(res, "Project");
    const sha = String(req.params.sha);
    const ref = typeof req.query.ref === "string" ? req.query.ref : undefined;
    const name = typeof req.query.name === "string" ? req.query.name : undefined;
    const list = state.statuses.filter(
      (s) =>
        s.project_id === project.id && s.sha === sha && (ref === undefined || s.ref === ref) && (name === undefined || s.name === name),
    );
    res.json(list.map((s) => render(s, res)));
  });
};
