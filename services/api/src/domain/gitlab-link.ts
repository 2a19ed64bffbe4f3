import { type App, type GitlabConnection, type OutboundFetch, type Records, type SecretBox, secretContexts } from "@hoist/shared";
import { GitlabClient, GitlabError } from "../adapters/gitlab.js";
import { scanHostKeys } from "../adapters/ssh-keyscan.js";
import { parseSshUrl, sshUrlOf } from "./ssh-url.js";
import { hashToken, newWebhookToken } from "./tokens.js";
import { webhookUrl } from "./views.js";

/** What linking needs: the records, the secret box and the API's public URL (the hook's address). */
export interface LinkDeps {
  records: Records;
  secrets: SecretBox;
  publicUrl: string;
  /** GitLab calls go through the outbound policy (HOIST_OUTBOUND_ALLOW). */
  fetch: OutboundFetch;
}

async function gitlabClientFor(deps: Pick<LinkDeps, "secrets" | "fetch">, conn: GitlabConnection): Promise<GitlabClient> {
  const token = (await deps.secrets.open(conn.token, secretContexts.gitlabToken(conn.id))).toString("utf8");
  return new GitlabClient(conn.url, token, deps.fetch);
}

/**
 * GitLab answers 422 "Invalid url given" for a hook URL its URL blocker refuses, which by default
 * is any loopback or private address: say which setting on either side fixes it.
 */
async function hookCall<T>(url: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof GitlabError) || err.status !== 422 || !err.answerMatches((text) => /invalid url/i.test(text))) throw err;
    throw new GitlabError(
      `GitLab refused the webhook URL ${url} (422: invalid URL). GitLab blocks webhooks to loopback and private addresses ` +
        `unless an administrator turns on "Allow requests to the local network from webhooks and integrations" ` +
        "(Admin area > Settings > Network > Outbound requests). Set HOIST_PUBLIC_URL to an address GitLab can reach, " +
        "or turn that setting on, then link again.",
      422,
    );
  }
}

/** `ssh-ed25519 AAAA... comment` → `ssh-ed25519 AAAA...`: GitLab may keep or drop the comment. */
function keyMaterial(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(" ");
}

/**
 * Wires an app to a GitLab project: the push/tag-push/merge-request hook (with a fresh secret token, whose
 * hash the app keeps), the app's public key as a read-only deploy key, the project's SSH URL and
 * the git host's pinned host keys. Idempotent: an existing hook (same URL) is updated in place
 * and an existing deploy key (same key) is reused.
 */
export async function linkApp(deps: LinkDeps, app: App, conn: GitlabConnection, projectId: number): Promise<App> {
  if (!app.deployKey || !app.hookId) throw new GitlabError(`app ${app.name} has no deploy key or webhook id; recreate it`);
  const gitlab = await gitlabClientFor(deps, conn);
  const project = await gitlab.project(projectId);
  const location = parseSshUrl(project.ssh_url_to_repo);
  if (!location)
    throw new GitlabError(`project ${projectId}'s ssh_url_to_repo (${project.ssh_url_to_repo}) is not an SSH URL Hoist understands`);
  // Scanned before GitLab is changed: an unreachable git host fails the link with nothing half-done.
  const hostKeys = await scanHostKeys(location.host, location.port);

  const url = webhookUrl(deps.publicUrl, app.hookId);
  const token = newWebhookToken();
  const hookOpts = { token, branchFilter: app.branch };
  const existingHook = (await gitlab.hooks(projectId)).find((h) => h.url === url);
  const hook = await hookCall(url, () =>
    existingHook ? gitlab.editHook(projectId, existingHook.id, url, hookOpts) : gitlab.addHook(projectId, url, hookOpts),
  );

  const mine = keyMaterial(app.deployKey.publicKey);
  const existingKey = (await gitlab.deployKeys(projectId)).find((k) => keyMaterial(k.key) === mine);
  const key = existingKey ?? (await gitlab.addDeployKey(projectId, `hoist:${app.name}`, app.deployKey.publicKey));
  if (key.can_push)
    throw new GitlabError(
      `deploy key ${key.id} on project ${projectId} has write access; Hoist only uses read-only keys: remove it and link again`,
    );

  const updated = await deps.records.apps.update(app.name, {
    // Stored as rebuilt from its parts: what GitLab said is never given to git as it came.
    repo: { sshUrl: sshUrlOf(location), projectId },
    hostKeys,
    webhookTokenHash: hashToken(token),
    gitlab: {
      connectionId: conn.id,
      projectId,
      hookId: hook.id,
      deployKeyId: key.id,
      ...(project.web_url ? { webUrl: project.web_url } : {}),
    },
  });
  if (!updated) throw new GitlabError(`app ${app.name} was deleted while linking`);
  return updated;
}

/** Removes the app's hook and deploy key from GitLab (already gone counts as removed) and forgets the link. */
export async function unlinkApp(deps: LinkDeps, app: App): Promise<App> {
  if (!app.gitlab) return app;
  const conn = await deps.records.gitlabConnections.get(app.gitlab.connectionId);
  if (!conn)
    throw new GitlabError(
      `GitLab connection ${app.gitlab.connectionId} of app ${app.name} no longer exists; remove the hook and deploy key by hand`,
    );
  const gitlab = await gitlabClientFor(deps, conn);
  if (app.gitlab.hookId) await gitlab.removeHook(app.gitlab.projectId, app.gitlab.hookId);
  if (app.gitlab.deployKeyId) await gitlab.removeDeployKey(app.gitlab.projectId, app.gitlab.deployKeyId);
  await deps.records.apps.unset(app.name, ["gitlab"]);
  return deps.records.apps.require(app.name);
}

/** After the app's branch filter changed: the linked GitLab hook filters pushes the same way. */
export async function syncHookBranchFilter(deps: LinkDeps, app: App): Promise<void> {
  if (!app.gitlab?.hookId || !app.hookId) return;
  const conn = await deps.records.gitlabConnections.get(app.gitlab.connectionId);
  if (!conn) throw new GitlabError(`GitLab connection ${app.gitlab.connectionId} of app ${app.name} no longer exists; link the app again`);
  const gitlab = await gitlabClientFor(deps, conn);
  const url = webhookUrl(deps.publicUrl, app.hookId);
  const { projectId, hookId } = app.gitlab;
  await hookCall(url, () => gitlab.editHook(projectId, hookId, url, { branchFilter: app.branch }));
}
