import { type App, secretContexts } from "@hoist/shared";
import { type Request, type Response, Router } from "express";
import { type ApiDeps, linkPorts } from "../../deps.js";
import { sealSettings } from "../../domain/app-secrets.js";
import { generateDeployKey } from "../../domain/deploy-key.js";
import { syncHookBranchFilter, unlinkApp } from "../../domain/gitlab-link.js";
import { checkDestinations } from "../../domain/outbound-urls.js";
import { nextPreviewSettings } from "../../domain/preview-settings.js";
import { acceptRepo } from "../../domain/repo-source.js";
import { hashToken, newHookId, newWebhookToken } from "../../domain/tokens.js";
import { appView, webhookUrl } from "../../domain/views.js";
import { HttpError } from "../errors.js";
import { createAppSchema, updateAppSchema } from "../schemas.js";

export async function requireApp(deps: ApiDeps, name: string): Promise<App> {
  const app = await deps.records.apps.get(name);
  if (!app) throw new HttpError(404, "not_found", `app ${name} not found`);
  return app;
}

/** /v1/apps: create (with deploy keypair and webhook secret), list, show, update, delete, rotate. */
export function appsRouter(deps: ApiDeps): Router {
  const router = Router();
  const publicUrl = deps.config.HOIST_PUBLIC_URL;

  router.post("/apps", (req, res) => createApp(deps, req, res));

  router.get("/apps", async (_req, res) => {
    const all = await deps.records.apps.list();
    // Only the apps the caller has a role on (authorize sets canView).
    const canView = res.locals.canView as (app: string) => Promise<boolean>;
    const seen = await Promise.all(all.map((a) => canView(a.name)));
    const apps = all.filter((_, i) => seen[i]);
    res.json({ apps: apps.map((a) => appView(a, publicUrl)) });
  });

  router.get("/apps/:app", async (req, res) => {
    res.json({ app: appView(await requireApp(deps, req.params.app), publicUrl) });
  });

  router.patch("/apps/:app", (req: Request<{ app: string }>, res) => updateApp(deps, req, res));

  router.delete("/apps/:app", async (req, res) => {
    const app = await requireApp(deps, req.params.app);
    // A linked app's hook and deploy key are removed from GitLab first, so nothing keeps pushing to a dead URL.
    if (app.gitlab) await unlinkApp(linkPorts(deps), app);
    await deps.records.apps.delete(app.name);
    deps.apps.invalidate(app);
    res.status(204).end();
  });

  router.post("/apps/:app/webhook/rotate", async (req, res) => {
    const app = await requireApp(deps, req.params.app);
    const token = newWebhookToken();
    const hookId = app.hookId ?? newHookId();
    await deps.records.apps.update(app.name, { hookId, webhookTokenHash: hashToken(token) });
    if (!app.hookId) await deps.records.apps.setHookId(app.name, hookId);
    deps.apps.invalidate({ hookId });
    res.json({ webhook: { url: webhookUrl(publicUrl, hookId), token } });
  });

  return router;
}

/** POST /v1/apps: the app with its deploy keypair and webhook secret, each shown once. */
async function createApp(deps: ApiDeps, req: Request, res: Response): Promise<void> {
  const publicUrl = deps.config.HOIST_PUBLIC_URL;
  const input = createAppSchema.parse(req.body);
  if (await deps.records.apps.get(input.name)) throw new HttpError(409, "conflict", `app ${input.name} already exists`);
  const repo = await acceptRepo(input.repo.sshUrl, deps.config.HOIST_LOCAL_REPOS);
  await checkDestinations(deps.config.HOIST_OUTBOUND_ALLOW, input);
  // A local repository is read with git directly: no deploy key to hand out.
  const keypair = repo.local ? undefined : await generateDeployKey(input.name);
  const token = newWebhookToken();
  const hookId = newHookId();
  const sealed = await sealSettings(deps.secrets, input.name, input);
  const app = await deps.records.apps.create({
    name: input.name,
    branch: input.branch,
    repo: { ...input.repo, sshUrl: repo.url },
    target: input.target,
    supersede: input.supersede ?? "running",
    tagBuilds: input.tagBuilds ?? true,
    buildTimeoutSec: input.buildTimeoutSec ?? 1800,
    ...(input.build ? { build: input.build } : {}),
    hookId,
    webhookTokenHash: hashToken(token),
    ...(keypair
      ? {
          deployKey: {
            publicKey: keypair.publicKey,
            privateKey: await deps.secrets.seal(keypair.privateKey, secretContexts.deployKey(input.name)),
          },
        }
      : {}),
    ...sealed.set,
  });
  res.locals.auditChange = { app: app.name, after: appView(app, publicUrl) };
  res.status(201).json({
    app: appView(app, publicUrl),
    webhook: { url: webhookUrl(publicUrl, hookId), token },
    deployKey: keypair ? { publicKey: keypair.publicKey } : null,
    ...(sealed.outgoingWebhookSecret ? { outgoingWebhook: { url: app.outgoingWebhook?.url, secret: sealed.outgoingWebhookSecret } } : {}),
  });
}

/** PATCH /v1/apps/:app: settings, secrets sealed (null clears one), the GitLab hook's branch filter kept in step. */
async function updateApp(deps: ApiDeps, req: Request<{ app: string }>, res: Response): Promise<void> {
  const publicUrl = deps.config.HOIST_PUBLIC_URL;
  const input = updateAppSchema.parse(req.body);
  const current = await requireApp(deps, req.params.app);
  if (input.repo) {
    const repo = await acceptRepo(input.repo.sshUrl, deps.config.HOIST_LOCAL_REPOS);
    if (!repo.local && !current.deployKey) {
      throw new HttpError(
        400,
        "invalid_request",
        `repo.sshUrl: app ${current.name} has no deploy key for an SSH repository; create a new app`,
      );
    }
    input.repo = { ...input.repo, sshUrl: repo.url };
  }
  await checkDestinations(deps.config.HOIST_OUTBOUND_ALLOW, input);
  const sealed = await sealSettings(deps.secrets, current.name, input);
  const { env: _e, slackWebhookUrl: _s, outgoingWebhook: _o, signingSecret: _g, previews: previewsInput, ...plain } = input;
  const previews = previewsInput
    ? await nextPreviewSettings(deps.secrets, current, await deps.records.environments.names(current.name), previewsInput)
    : undefined;
  if (sealed.clear.length) await deps.records.apps.unset(current.name, sealed.clear);
  const app = await deps.records.apps.update(current.name, { ...plain, ...sealed.set, ...(previews ? { previews } : {}) });
  deps.apps.invalidate(current);
  if (!app) throw new HttpError(404, "not_found", `app ${current.name} not found`);
  // Hoist also filters by branch, but GitLab should not send (and count failures of) pushes Hoist ignores.
  if (input.branch !== undefined && input.branch !== current.branch) await syncHookBranchFilter(linkPorts(deps), app);
  // The audit log's before/after: what the API shows of the app (secrets are never in it), masked again on append.
  res.locals.auditChange = { before: appView(current, publicUrl), after: appView(app, publicUrl) };
  res.json({
    app: appView(app, publicUrl),
    ...(sealed.outgoingWebhookSecret ? { outgoingWebhook: { url: app.outgoingWebhook?.url, secret: sealed.outgoingWebhookSecret } } : {}),
  });
}
