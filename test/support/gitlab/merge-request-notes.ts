import type { Request, Response } from "express";
import { paginate } from "./pagination.js";
import { projectFor } from "./projects.js";
import { gitlabUserOf, notFound, type RouteModule } from "./server.js";
import type { GitlabMergeRequest, GitlabNote, GitlabProject, GitlabState } from "./state.js";

/** GitLab's limit on a note's length (answered as a validation error of `note`). */
const MAX_NOTE_LENGTH = 1_000_000;

function param(req: Request, name: string): unknown {
  return (req.body as Record<string, unknown> | undefined)?.[name] ?? req.query[name];
}

function noteView(n: GitlabNote, state: GitlabState, mr: GitlabMergeRequest) {
  const u = state.users.find((x) => x.id === n.author_id);
  return {
    id: n.id,
    type: null,
    body: n.body,
    attachment: null,
    author: u ? { id: u.id, username: u.username, name: u.name, state: u.state } : null,
    created_at: n.created_at,
    updated_at: n.updated_at,
    system: false,
    noteable_id: mr.id,
    noteable_type: "MergeRequest",
    noteable_iid: mr.iid,
    project_id: n.project_id,
    resolvable: false,
    confidential: false,
    internal: false,
  };
}

/** The project (Reporter or more: private projects' merge requests) and its merge request `:iid`, or the 404 GitLab answers. */
function mergeRequestFor(state: GitlabState, req: Request, res: Response): { p: GitlabProject; mr: GitlabMergeRequest } | undefined {
  const p = projectFor(state, req, res, "reporter");
  if (!p) return undefined;
  const mr = state.mergeRequests.find((m) => m.project_id === p.id && m.iid === Number(req.params.iid));
  if (!mr) return void notFound(res, "Merge Request");
  return { p, mr };
}

/** The 400 GitLab answers for a note body it does not accept, or undefined for a good one. */
function bodyProblem(body: unknown): { error: string } | { message: { note: string[] } } | undefined {
  if (body === undefined || body === "") return { error: "body is missing" };
  if (typeof body !== "string") return { error: "body is invalid" };
  if (body.length > MAX_NOTE_LENGTH) return { message: { note: [`is too long (maximum is ${MAX_NOTE_LENGTH} characters)`] } };
  return undefined;
}

/**
 * Merge request notes (https://docs.gitlab.com/api/notes/#merge-requests): list (paginated,
 * `sort` and `order_by` as GitLab validates them, newest first by default), create (201) and
 * edit. Reading and commenting need Reporter (merge requests of private projects); only a
 * note's author may edit it (403 otherwise), as GitLab's `admin_note` policy.
 */
export const mergeRequestNoteRoutes: RouteModule = (router, state, { baseUrl }) => {
  router.get("/projects/:id/merge_requests/:iid/notes", (req, res) => {
    const sort = req.query.sort ?? "desc";
    const orderBy = req.query.order_by ?? "created_at";
    if (sort !== "asc" && sort !== "desc") return void res.status(400).json({ error: "sort does not have a valid value" });
    if (orderBy !== "created_at" && orderBy !== "updated_at")
      return void res.status(400).json({ error: "order_by does not have a valid value" });
    const found = mergeRequestFor(state, req, res);
    if (!found) return;
    const { p, mr } = found;
    const list = state
      .notesOf(p, mr.iid)
      .map((n, i) => ({ n, i }))
      .sort((a, b) => (a.n[orderBy].localeCompare(b.n[orderBy]) || a.i - b.i) * (sort === "desc" ? -1 : 1))
      .map(({ n }) => n);
    const page = paginate(req, res, list, baseUrl());
    if (page) res.json(page.map((n) => noteView(n, state, mr)));
  });

  router.get("/projects/:id/merge_requests/:iid/notes/:noteId", (req, res) => {
    const found = mergeRequestFor(state, req, res);
    if (!found) return;
    const note = state.notesOf(found.p, found.mr.iid).find((n) => n.id === Number(req.params.noteId));
    if (!note) return notFound(res, "Note");
    res.json(noteView(note, state, found.mr));
  });

  router.post("/projects/:id/merge_requests/:iid/notes", (req, res) => {
    const body = param(req, "body");
    const problem = bodyProblem(body);
    if (problem || typeof body !== "string") return void res.status(400).json(problem);
    const found = mergeRequestFor(state, req, res);
    if (!found) return;
    const now = new Date().toISOString();
    const note: GitlabNote = {
      id: state.nextId(),
      project_id: found.p.id,
      mr_iid: found.mr.iid,
      body,
      author_id: gitlabUserOf(res).id,
      created_at: now,
      updated_at: now,
    };
    state.notes.push(note);
    res.status(201).json(noteView(note, state, found.mr));
  });

  router.put("/projects/:id/merge_requests/:iid/notes/:noteId", (req, res) => {
    const body = param(req, "body");
    if (body === undefined && param(req, "confidential") === undefined)
      return void res.status(400).json({ error: "body, confidential are missing, at least one parameter must be provided" });
    const problem = body === undefined ? undefined : bodyProblem(body);
    if (problem) return void res.status(400).json(problem);
    const found = mergeRequestFor(state, req, res);
    if (!found) return;
    const note = state.notesOf(found.p, found.mr.iid).find((n) => n.id === Number(req.params.noteId));
    if (!note) return notFound(res, "Note");
    if (note.author_id !== gitlabUserOf(res).id) return void res.status(403).json({ message: "403 Forbidden" });
    if (typeof body === "string" && body !== note.body) {
      note.body = body;
      note.updated_at = new Date().toISOString();
    }
    res.json(noteView(note, state, found.mr));
  });
};
