import { paginate } from "./pagination.js";
import { projectFor } from "./projects.js";
import { notFound, type RouteModule } from "./server.js";
import type { GitlabFreezePeriod } from "./state.js";

function view(p: GitlabFreezePeriod) {
  const { project_id: _p, ...fields } = p;
  return fields;
}

/**
 * Deploy freeze periods (https://docs.gitlab.com/api/freeze_periods/): list (paginated) and get,
 * as GitLab answers them; reading them needs Developer. Tests add periods with
 * `state.addFreezePeriod` (GitLab: Settings > CI/CD > Deploy freezes).
 */
export const freezePeriodRoutes: RouteModule = (router, state, { baseUrl }) => {
  router.get("/projects/:id/freeze_periods", (req, res) => {
    const p = projectFor(state, req, res, "developer");
    if (!p) return;
    const page = paginate(
      req,
      res,
      state.freezePeriods.filter((f) => f.project_id === p.id),
      baseUrl(),
    );
    if (page) res.json(page.map(view));
  });

  router.get("/projects/:id/freeze_periods/:freezeId", (req, res) => {
    const p = projectFor(state, req, res, "developer");
    if (!p) return;
    const period = state.freezePeriods.find((f) => f.project_id === p.id && f.id === Number(req.params.freezeId));
    if (!period) return notFound(res, "Freeze Period");
    res.json(view(period));
  });
};
