import type { App, Build, NotifyEvent, Release } from "@hoist/shared";
import type { NotifyContext } from "../domain/context.js";

/** Records as the builder and deployer leave them, for unit tests of the pure message builders. */
export const SHA = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345";

export function appFixture(over: Partial<App> = {}): App {
  return {
    name: "shop",
    branch: "main",
    repo: { sshUrl: "ssh://git@127.0.0.1:2222/acme/shop.git" },
    target: { kind: "local", services: {} },
    supersede: "running",
    tagBuilds: true,
    buildTimeoutSec: 1800,
    gitlab: { connectionId: "glc_1", projectId: 42, webUrl: "https://gitlab.example.com/acme/shop" },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    ...over,
  };
}

export function buildFixture(over: Partial<Build> = {}): Build {
  return {
    id: "bld_abc",
    app: "shop",
    number: 12,
    ref: "main",
    sha: SHA,
    status: "succeeded",
    trigger: "push",
    commit: { title: "Fix <checkout> & totals\n\nLonger body", author: "Ada Lovelace", timestamp: "2026-01-01T10:00:00Z" },
    createdAt: "2026-01-01T10:00:00.000Z",
    startedAt: "2026-01-01T10:00:05.000Z",
    finishedAt: "2026-01-01T10:02:00.000Z",
    ...over,
  };
}

export function releaseFixture(over: Partial<Release> = {}): Release {
  return {
    id: "rel_xyz",
    app: "shop",
    environment: "production",
    number: 3,
    buildId: "bld_abc",
    status: "live",
    images: [{ service: "web", tag: "registry.local/shop/web:3f2a9c1b" }],
    createdAt: "2026-01-01T10:02:01.000Z",
    deployingAt: "2026-01-01T10:02:02.000Z",
    liveAt: "2026-01-01T10:04:12.000Z",
    ...over,
  };
}

export function ctxFixture(event: NotifyEvent, over: Partial<Omit<NotifyContext, "event">> = {}): NotifyContext {
  return {
    event,
    app: appFixture(),
    build: buildFixture(),
    ...(event.startsWith("release.") ? { release: releaseFixture() } : {}),
    publicUrl: "https://hoist.example.com",
    ...over,
  };
}
