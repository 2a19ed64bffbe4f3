import type { Request, Response } from "express";
import { gitlabUserOf, notFound, type RouteModule } from "./server.js";
import { accessLevels, type GitlabProject, type GitlabState, type Role } from "./state.js";

/** `:id` is a numeric id or a URL-encoded path (`acme%2Fweb`), as GitLab accepts both. */
export function findProject(state: GitlabState, id: string): GitlabProject | undefined {
  const decoded = decodeURIComponent(id);
  return /^\d+$/.test(decoded)
    ? state.projects.find((p) => p.id === Number(decoded))
    : state.projects.find((p) => p.path_with_namespace === decoded);
}

/**
 * Resolves `req.params.id` for the token's user as GitLab's `user_project` and `authorize!` do:
 * `404 Project Not Found` when it does not exist or the user is no member of it (projects are
 * private), `403 Forbidden` when the user's role is below `role` (hooks and deploy keys need
 * Maintainer, commit statuses Developer).
 */
export function projectFor(state: GitlabState, req: Request, res: Response, role: Role = "guest"): GitlabProject | undefined {
  const project = findProject(state, String(req.params.id));
  const user = gitlabUserOf(res);
  const member = project && state.members.find((m) => m.project_id === project.id && m.user_id === user.id);
  if (!project || !member) return void notFound(res, "Project");
  if (member.access_level < accessLevels[role]) return void res.status(403).json({ message: "403 Forbidden" });
  return project;
}

/** A boolean parameter as Grape coerces it (JSON booleans, or "true"/"false" strings from forms). */
export function boolParam(value: unknown, fallback: boolean): boolean | "invalid" {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "boolean") return value;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  return "invalid";
}

/** GET /projects/:id (https://docs.gitlab.com/api/projects/#get-a-single-project). */
export const projectRoutes: RouteModule = (router, state) => {
  router.get("/projects/:id", (req, res) => {
    const p = projectFor(state, req, res);
    if (!p) return;
    res.json({
      id: p.id,
      name: p.name,
      path: p.path_with_namespace.split("/").pop(),
      path_with_namespace: p.path_with_namespace,
      default_branch: p.default_branch,
      ssh_url_to_repo: p.ssh_url_to_repo,
      http_url_to_repo: p.http_url_to_repo,
      web_url: p.web_url,
      visibility: "private",
      archived: false,
    });
  });
};
