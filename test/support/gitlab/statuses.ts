import type { Request } from "express";
import { findCommit } from "./commits.js";
import { paginate } from "./pagination.js";
import { boolParam, projectFor } from "./projects.js";
import type { RouteModule } from "./server.js";
import { gitlabUserOf, missingParam, notFound } from "./server.js";
import type { CommitStatusState, GitlabCommitStatus, GitlabState, StatusPost } from "./state.js";

/**
 * Commit statuses (https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit),
 * as GitLab's Ci::CreateCommitStatusService sets them:
 * - the status updated is the caller's own *pending or running* one of that name and ref in the
 *   commit's external pipeline; when there is none (first time, or the last one finished) a new
 *   status is created and the older one of that name counts as retried;
 * - each requested state is a state machine event on it (pending: enqueue, running: enqueue then
 *   run, success, failed: drop, canceled: cancel, skipped: skip); an event the state refuses
 *   answers 400 with the state machine's message;
 * - an unknown commit answers `404 Commit Not Found`, a commit on no branch without `ref`
 *   `404 References for commit Not Found`; setting a status needs Developer.
 */
const requestable = ["pending", "running", "success", "failed", "canceled", "skipped"] as const;
type Requested = (typeof requestable)[number];
type State = CommitStatusState;

/** CommitStatus's state machine: the event each requested state fires, and the states it leaves from. */
const events: Record<Requested, { event: string; from: readonly State[] }> = {
  pending: { event: "enqueue", from: ["created", "skipped"] },
  running: { event: "run", from: ["pending"] },
  success: { event: "success", from: ["created", "pending", "running"] },
  failed: { event: "drop", from: ["created", "pending", "running"] },
  canceled: { event: "cancel", from: ["created", "pending", "running"] },
  skipped: { event: "skip", from: ["created", "pending"] },
};
const finished: readonly State[] = ["success", "failed", "canceled", "skipped"];

/** Every accepted POST, in order: the history a commit's page shows (GitLab's list keeps only the latest). */
export function statusHistory(state: GitlabState): StatusPost[] {
  return state.statusPosts;
}

function param(req: Request, name: string): string | undefined {
  const v = (req.body as Record<string, unknown> | undefined)?.[name] ?? req.query[name];
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
}

function render(s: GitlabCommitStatus, state: GitlabState) {
  const u = state.users.find((x) => x.id === s.user_id);
  const { project_id: _p, user_id: _u, ...fields } = s;
  return {
    ...fields,
    allow_failure: false,
    coverage: null,
    author: u ? { id: u.id, username: u.username, name: u.name, state: u.state } : null,
  };
}

/** The state after firing `requested`'s event(s), or GitLab's refusal. */
function transition(current: State, requested: Requested): State | { refused: string } {
  // `running` first enqueues without raising (a new status is created, then pending).
  const from = requested === "running" && events.pending.from.includes(current) ? "pending" : current;
  const { event, from: allowed } = events[requested];
  if (!allowed.includes(from))
    return { refused: `Cannot transition status via :${event} from :${from} (Reason(s): Status cannot transition via "${event}")` };
  return requested;
}

export const statusRoutes: RouteModule = (router, state, { baseUrl }) => {
  router.post("/projects/:id/statuses/:sha", (req, res) => {
    const requested = param(req, "state");
    if (requested === undefined) return missingParam(res, "state");
    if (!requestable.includes(requested as Requested)) return void res.status(400).json({ error: "state does not have a valid value" });
    const project = projectFor(state, req, res, "developer");
    if (!project) return;
    const commit = findCommit(state, project, String(req.params.sha));
    if (!commit) return notFound(res, "Commit");
    const user = gitlabUserOf(res);
    const askedRef = param(req, "ref");
    const pipelines = state.pipelines.filter((p) => p.project_id === project.id && p.sha === commit.sha).reverse();
    const ref = askedRef ?? pipelines[0]?.ref ?? commit.branches[0];
    if (!ref) return notFound(res, "References for commit");
    let pipeline = pipelines.find((p) => askedRef === undefined || p.ref === askedRef);
    if (!pipeline) {
      pipeline = { id: state.nextId(), project_id: project.id, sha: commit.sha, ref };
      state.pipelines.push(pipeline);
    }
    const name = param(req, "name") ?? param(req, "context") ?? "default";
    const pipelineId = pipeline.id;
    const existing = state.statuses.find(
      (s) =>
        s.pipeline_id === pipelineId &&
        (s.status === "pending" || s.status === "running") &&
        s.ref === ref &&
        s.name === name &&
        s.user_id === user.id,
    );
    const next = transition(existing?.status ?? "created", requested as Requested);
    if (typeof next !== "string") return void res.status(400).json({ message: next.refused });
    const now = new Date().toISOString();
    const status: GitlabCommitStatus = existing ?? {
      id: state.nextId(),
      project_id: project.id,
      pipeline_id: pipelineId,
      sha: commit.sha,
      ref,
      status: "created",
      name,
      target_url: null,
      description: null,
      created_at: now,
      started_at: null,
      finished_at: null,
      user_id: user.id,
    };
    const description = param(req, "description");
    const targetUrl = param(req, "target_url");
    if (description !== undefined) status.description = description;
    if (targetUrl !== undefined) status.target_url = targetUrl;
    status.status = next;
    if (next === "running") status.started_at = now;
    if (finished.includes(next)) status.finished_at = now;
    if (!existing) state.statuses.push(status);
    state.statusPosts.push({ id: status.id, name, sha: commit.sha, ref, status: next, description: status.description });
    res.status(201).json(render(status, state));
  });

  router.get("/projects/:id/repository/commits/:sha/statuses", (req, res) => {
    const all = boolParam(req.query.all, false);
    if (all === "invalid") return void res.status(400).json({ error: "all is invalid" });
    const project = projectFor(state, req, res, "reporter");
    if (!project) return;
    const commit = findCommit(state, project, String(req.params.sha));
    if (!commit) return notFound(res, "Commit");
    const q = (k: string) => (typeof req.query[k] === "string" && req.query[k] !== "" ? (req.query[k] as string) : undefined);
    const [ref, name, pipelineId] = [q("ref"), q("name"), q("pipeline_id")];
    let list = state.statuses.filter(
      (s) =>
        s.project_id === project.id &&
        s.sha === commit.sha &&
        (ref === undefined || s.ref === ref) &&
        (name === undefined || s.name === name) &&
        (pipelineId === undefined || String(s.pipeline_id) === pipelineId),
    );
    // Without `all`, only the latest of each name in a pipeline: the older ones were retried.
    if (!all) list = list.filter((s) => !state.statuses.some((o) => o.pipeline_id === s.pipeline_id && o.name === s.name && o.id > s.id));
    const key = q("order_by") === "pipeline_id" ? "pipeline_id" : "id";
    list.sort((a, b) => (a[key] - b[key]) * (q("sort") === "desc" ? -1 : 1));
    const page = paginate(req, res, list, baseUrl());
    if (page) res.json(page.map((s) => render(s, state)));
  });
};
