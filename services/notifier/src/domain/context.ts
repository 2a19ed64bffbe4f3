import type { App, Build, NotifyEvent, Release } from "@hoist/shared";

/** Everything a notification is built from: the event and the records it is about, as loaded now. */
export interface NotifyContext {
  event: NotifyEvent;
  app: App;
  build: Build;
  release?: Release;
  /** Base URL of the dashboard (HOIST_PUBLIC_URL), without a trailing slash. */
  publicUrl: string;
}

/** The name of a release's environment (one stored before environments is production's). */
export function environmentOf(release: Release): string {
  return release.environment;
}

/** GitLab's own short id length; the issue asks for 7 or more characters. */
const SHORT_SHA_LENGTH = 8;

export function shortSha(sha: string): string {
  return sha.slice(0, SHORT_SHA_LENGTH);
}

export function buildUrl(ctx: Pick<NotifyContext, "publicUrl" | "build">): string {
  return `${ctx.publicUrl.replace(/\/+$/, "")}/builds/${encodeURIComponent(ctx.build.id)}`;
}

/** The commit's page in GitLab: the build's own commit URL (from the push), else the project's web URL. */
export function commitUrl(ctx: Pick<NotifyContext, "app" | "build">): string | undefined {
  if (ctx.build.commit?.url) return ctx.build.commit.url;
  const web = ctx.app.gitlab?.webUrl;
  return web ? `${web.replace(/\/+$/, "")}/-/commit/${ctx.build.sha}` : undefined;
}

/** A branch or tag name as GitLab's `ref` parameter expects it. */
export function refName(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "");
}

/**
 * When the event happened, from the records: stable across retries, so a webhook body carries
 * the same timestamp on every delivery attempt. Falls back to `now` for records that lack it.
 */
export function eventTime(ctx: Pick<NotifyContext, "event" | "build" | "release">, now: Date = new Date()): string {
  const { build, release } = ctx;
  const pick = (): string | undefined => {
    switch (ctx.event) {
      case "build.pending":
        return build.createdAt;
      case "build.running":
        return build.startedAt;
      case "build.succeeded":
      case "build.failed":
      case "build.canceled":
        return build.finishedAt;
      case "release.deploying":
        return release?.deployingAt;
      case "release.live":
        return release?.liveAt;
      case "release.failed":
      case "release.rolled_back":
      case "release.rejected":
        return release?.finishedAt;
      case "release.approved":
        return release?.approvals?.at(-1)?.at;
      case "release.awaiting_approval":
      case "release.frozen":
        return release?.createdAt;
    }
  };
  return pick() ?? now.toISOString();
}

/** "45s", "4m 12s", "1h 03m": how long from push to live, for people. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}
