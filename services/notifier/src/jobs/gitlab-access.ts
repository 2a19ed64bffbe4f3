import { type App, secretContexts, UnrecoverableError } from "@hoist/shared";
import type { NotifierDeps } from "./deps.js";

/** The app's GitLab connection: its URL, its token (opened) and the app's project. */
interface GitlabAccess {
  url: string;
  token: string;
  projectId: number;
}

/** The GitLab connection an app notifies through; undefined for an app without one. */
export async function gitlabAccess(deps: Pick<NotifierDeps, "records" | "secrets">, app: App): Promise<GitlabAccess | undefined> {
  const gitlab = app.gitlab;
  if (!gitlab) return undefined;
  const conn = await deps.records.gitlabConnections.get(gitlab.connectionId);
  if (!conn) throw new UnrecoverableError(`GitLab connection ${gitlab.connectionId} of app ${app.name} not found: connect the app again`);
  const token = (await deps.secrets.open(conn.token, secretContexts.gitlabToken(conn.id), app.name)).toString("utf8");
  return { url: conn.url, token, projectId: gitlab.projectId };
}
