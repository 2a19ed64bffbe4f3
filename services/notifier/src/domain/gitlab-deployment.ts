import { environmentOf, type NotifyContext, refName } from "./context.js";

export type DeploymentStatus = "running" | "success" | "failed" | "canceled";

/** One rollout as GitLab's Environments page shows it: the environment, the commit, the ref, the app's URL. */
export interface DeploymentSubject {
  releaseId: string;
  environment: string;
  sha: string;
  ref: string;
  externalUrl?: string;
}

/**
 * The GitLab deployment an event sets, if any: a rollout starting is `running`, going live
 * `success`, failing `failed`, and one a newer release took over mid-rollout `canceled`. A release that failed before it ever deployed (superseded while
 * waiting, its job gave up) had no rollout, and gets no deployment; approvals, freezes and
 * rejections are the commit status's to show.
 */
export function deploymentFor(ctx: NotifyContext): { status: DeploymentStatus; subject: DeploymentSubject } | undefined {
  const { release, build, event } = ctx;
  if (!release) return undefined;
  const status: DeploymentStatus | undefined =
    event === "release.deploying"
      ? "running"
      : event === "release.live"
        ? "success"
        : event === "release.failed" && release.deployingAt
          ? release.reason === "superseded"
            ? "canceled"
            : "failed"
          : undefined;
  if (!status) return undefined;
  const url = appUrl(ctx);
  return {
    status,
    subject: {
      releaseId: release.id,
      environment: environmentOf(release),
      sha: build.sha,
      ref: refName(build.ref),
      ...(url ? { externalUrl: url } : {}),
    },
  };
}

/** The app's URL for GitLab's "Open" button: its first host name (local target, behind Caddy), else its page in Hoist. */
function appUrl(ctx: Pick<NotifyContext, "app" | "publicUrl">): string | undefined {
  const { target } = ctx.app;
  if (target.kind === "local") {
    for (const svc of Object.values(target.services)) {
      const host = svc.hosts?.find((h) => !h.startsWith("*."));
      if (host) return `https://${host}`;
    }
  }
  return `${ctx.publicUrl.replace(/\/+$/, "")}/apps/${encodeURIComponent(ctx.app.name)}`;
}
