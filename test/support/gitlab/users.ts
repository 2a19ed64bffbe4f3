import type { RouteModule } from "./server.js";
import { gitlabUserOf } from "./server.js";

/** GET /user: the token's own user (https://docs.gitlab.com/api/users/#get-the-current-user). */
export const userRoutes: RouteModule = (router) => {
  router.get("/user", (_req, res) => {
    const u = gitlabUserOf(res);
    res.json({ id: u.id, username: u.username, name: u.name, state: u.state });
  });
};
