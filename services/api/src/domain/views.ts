import type { App, Build, Release } from "@hoist/shared";
import { previewSettingsView } from "./preview-settings.js";

/** The public shape of an app: never a secret, only whether each is configured. */
export function appView(app: App, publicUrl: string) {
  return {
    name: app.name,
    branch: app.branch,
    repo: app.repo,
    target: app.target,
    supersede: app.supersede,
    tagBuilds: app.tagBuilds,
    buildTimeoutSec: app.buildTimeoutSec,
    build: app.build ?? {},
    scale: scaleView(app),
    webhook: { url: app.hookId ? webhookUrl(publicUrl, app.hookId) : null, signing: { configured: Boolean(app.signingSecret) } },
    deployKey: app.deployKey ? { publicKey: app.deployKey.publicKey } : null,
    hostKeys: app.hostKeys ?? [],
    gitlab: app.gitlab ?? null,
    env: { configured: Boolean(app.env) },
    slack: { configured: Boolean(app.slackWebhookUrl) },
    outgoingWebhook: app.outgoingWebhook ? { url: app.outgoingWebhook.url, configured: true } : { configured: false },
    previews: previewSettingsView(app),
    createdAt: app.createdAt,
    updatedAt: app.updatedAt,
  };
}

/** The scale `GET /v1/apps/:app` shows: every local service's replicas (default 1), or what was set for ECS. */
export function scaleView(app: App): Record<string, number> {
  if (app.target.kind === "ecs") return app.scale ?? {};
  const out: Record<string, number> = {};
  for (const [name, config] of Object.entries(app.target.services)) out[name] = app.scale?.[name] ?? config.replicas ?? 1;
  return out;
}

export function webhookUrl(publicUrl: string, hookId: string): string {
  return `${publicUrl}/webhooks/gitlab/${hookId}`;
}

export function buildView(b: Build) {
  return {
    id: b.id,
    app: b.app,
    number: b.number,
    ref: b.ref,
    sha: b.sha,
    status: b.status,
    ...(b.reason ? { reason: b.reason } : {}),
    trigger: b.trigger,
    ...(b.commit ? { commit: b.commit } : {}),
    ...(b.canceledBy ? { canceledBy: b.canceledBy } : {}),
    ...(b.noCache ? { noCache: true } : {}),
    ...(b.images ? { images: b.images } : {}),
    ...(b.releaseId ? { releaseId: b.releaseId } : {}),
    createdAt: b.createdAt,
    ...(b.startedAt ? { startedAt: b.startedAt } : {}),
    ...(b.finishedAt ? { finishedAt: b.finishedAt } : {}),
  };
}

/** What the API shows of a release (the sealed environment and image digests stay inside). */
interface ReleaseView {
  id: string;
  app: string;
  environment: string;
  number: number;
  buildId: string;
  status: Release["status"];
  reason?: string;
  createdAt: string;
  liveAt?: string;
  /** Its gates: approvals asked for and given (who, how, when), a rejection, a freeze, an override. */
  requiredApprovals?: number;
  approvals?: NonNullable<Release["approvals"]>;
  rejection?: NonNullable<Release["rejection"]>;
  frozenUntil?: string;
  freeze?: string;
  override?: NonNullable<Release["override"]>;
}

export function releaseView(r: Release): ReleaseView {
  return {
    id: r.id,
    app: r.app,
    environment: r.environment,
    number: r.number,
    buildId: r.buildId,
    status: r.status,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    createdAt: r.createdAt,
    ...(r.liveAt !== undefined ? { liveAt: r.liveAt } : {}),
    ...(r.requiredApprovals !== undefined ? { requiredApprovals: r.requiredApprovals } : {}),
    ...(r.approvals !== undefined ? { approvals: r.approvals } : {}),
    ...(r.rejection !== undefined ? { rejection: r.rejection } : {}),
    ...(r.frozenUntil !== undefined ? { frozenUntil: r.frozenUntil } : {}),
    ...(r.freeze !== undefined ? { freeze: r.freeze } : {}),
    ...(r.override !== undefined ? { override: r.override } : {}),
  };
}
