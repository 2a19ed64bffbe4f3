import { newId, outboundFetchFor, secretContexts } from "@hoist/shared";
import { Router } from "express";
import { GitlabClient } from "../../adapters/gitlab.js";
import { type ApiDeps, linkPorts } from "../../deps.js";
import { linkApp, unlinkApp } from "../../domain/gitlab-link.js";
import { appView } from "../../domain/views.js";
import { HttpError } from "../errors.js";
import { gitlabConnectionInputSchema, gitlabLinkSchema } from "../schemas.js";
import { requireApp } from "./apps.js";

function connectionView(c: { id: string; url: string; username: string; createdAt: string }) {
  return { id: c.id, url: c.url, username: c.username, createdAt: c.createdAt };
}

/** GitLab connections (instance URL + access token, verified then sealed) and app link/unlink. */
export function gitlabRouter(deps: ApiDeps): Router {
  const router = Router();

  router.post("/gitlab/connections", async (req, res) => {
    const input = gitlabConnectionInputSchema.parse(req.body);
    const url = input.url.replace(/\/+$/, "");
    const user = await new GitlabClient(url, input.token, outboundFetchFor(deps.config.HOIST_OUTBOUND_ALLOW)).currentUser();
    // The id is needed for the seal's context before the record exists, so allocate it here.
    const id = newId("glc");
    const token = await deps.secrets.seal(input.token, secretContexts.gitlabToken(id));
    const conn = await deps.records.gitlabConnections.create({ id, url, token, username: user.username });
    res.status(201).json({ connection: connectionView(conn) });
  });

  router.get("/gitlab/connections", async (_req, res) => {
    res.json({ connections: (await deps.records.gitlabConnections.list()).map(connectionView) });
  });

  router.post("/apps/:app/gitlab/link", async (req, res) => {
    const input = gitlabLinkSchema.parse(req.body);
    const app = await requireApp(deps, req.params.app);
    const conn = await deps.records.gitlabConnections.get(input.connection);
    if (!conn)
      throw new HttpError(404, "not_found", `GitLab connection ${input.connection} not found; create one with POST /v1/gitlab/connections`);
    if (app.gitlab && (app.gitlab.projectId !== input.projectId || app.gitlab.connectionId !== conn.id)) {
      throw new HttpError(
        409,
        "conflict",
        `app ${app.name} is linked to project ${app.gitlab.projectId}; DELETE /v1/apps/${app.name}/gitlab/link first`,
      );
    }
    const linked = await linkApp(linkPorts(deps), app, conn, input.projectId).finally(() => deps.apps.invalidate(app));
    res.json({ app: appView(linked, deps.config.HOIST_PUBLIC_URL) });
  });

  router.delete("/apps/:app/gitlab/link", async (req, res) => {
    const app = await requireApp(deps, req.params.app);
    const unlinked = await unlinkApp(linkPorts(deps), app).finally(() => deps.apps.invalidate(app));
    res.json({ app: appView(unlinked, deps.config.HOIST_PUBLIC_URL) });
  });

  return router;
}
