import type { App, Build, DependencyReport, Release } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { appPage, loginPage, pipelinesPage } from "./pages.js";

const session = { csrf: "c" };
const app = {
  name: "shop",
  branch: "main",
  repo: { sshUrl: "git@example.test:g/shop.git" },
  target: { kind: "local", services: {} },
} as unknown as App;
const at = "2026-12-02T10:00:00.000Z";
const build = {
  id: "bld_4",
  app: "shop",
  number: 4,
  ref: "refs/heads/main",
  sha: "a".repeat(40),
  status: "succeeded",
  trigger: "push",
  createdAt: at,
} as Build;
const release = (number: number, status: Release["status"], reason?: string) =>
  ({
    id: `rel_${number}`,
    app: "shop",
    environment: "production",
    number,
    buildId: "bld_4",
    status,
    images: [],
    createdAt: at,
    ...(reason ? { reason } : {}),
  }) as Release;

/** The row's cell for `col`, tags stripped. */
function cell(page: string, col: string): string {
  const m = new RegExp(`<td data-col="${col}">([\\s\\S]*?)</td>`).exec(page);
  return (m?.[1] ?? "")
    .replace(/<[^>]+>/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

describe("pipelines page", () => {
  it("shows a succeeded build whose release failed as failed, not green", () => {
    const page = pipelinesPage(session, [
      { app, lastBuild: build, lastRelease: release(3, "failed", "health check: no 2xx on / within 30 s"), live: release(2, "live") },
    ]);
    expect(cell(page, "build")).toBe("#4 succeeded");
    expect(cell(page, "release")).toBe("#3 failed health check: no 2xx on / within 30 s");
    expect(page).toContain('<span class="status failed">failed</span>');
  });

  it("names the dependencies a worker cannot reach, above the pipelines", () => {
    const report: DependencyReport = {
      service: "builder",
      instance: "host:42",
      at,
      staleAfterMs: 15_000,
      dependencies: [
        {
          name: "docker",
          where: "/var/run/docker.sock",
          ok: false,
          reason: "docker unreachable at /var/run/docker.sock: connect ENOENT /var/run/docker.sock",
          since: at,
        },
        { name: "registry", where: "127.0.0.1:5000", ok: true, since: at },
      ],
    };
    const page = pipelinesPage(session, [], [report]);
    expect(page).toMatch(/id="dependencies-down"><p><b>builder<\/b>: docker unreachable at \/var\/run\/docker.sock: connect ENOENT/);
    expect(page).toContain('data-dependency="builder/registry"');
  });
});

describe("sign-in page", () => {
  it("says where pnpm start keeps the token", () => {
    const page = loginPage("/srv/hoist/.hoist/api-token");
    expect(page).toContain("<code>$HOIST_DATA_DIR/api-token</code> (here: <code>/srv/hoist/.hoist/api-token</code>)");
  });
});

describe("app page", () => {
  it("shows the containers per service, scaled or from replicas", () => {
    const scaled = {
      ...app,
      target: { kind: "local", services: { web: { port: 8081 }, worker: { port: 8082, replicas: 2 } } },
      scale: { web: 3 },
    } as App;
    const page = appPage(session, scaled, [build], [release(2, "live")]);
    const line = /<p data-scale>([\s\S]*?)<\/p>/
      .exec(page)?.[1]
      ?.replace(/<[^>]+>/g, "")
      .replace(/\s+/g, " ")
      .trim();
    expect(line).toBe("Scale: web=3 worker=2 (hoist scale shop web=N)");
  });
});
