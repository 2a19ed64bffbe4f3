import type { App, Build, DependencyReport, Environment, Release } from "@hoist/shared";
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
  it("lists the app's previews with their MR links and, once live, their URL; never a non-http link", () => {
    const page = appPage(
      session,
      app,
      [build],
      [],
      [],
      [
        {
          iid: 42,
          url: "http://mr-42.shop.localhost",
          status: "live",
          sha: "b".repeat(40),
          updatedAt: at,
          mrUrl: "https://gitlab.example.com/g/shop/-/merge_requests/42",
          title: "Vouchers <b>now</b>",
        },
        { iid: 7, url: "http://mr-7.shop.localhost", status: "building", sha: "c".repeat(40), updatedAt: at, mrUrl: "javascript:alert(1)" },
      ],
    );
    expect(page).toContain('<table id="previews">');
    expect(page).toContain('<a href="https://gitlab.example.com/g/shop/-/merge_requests/42" rel="noreferrer">!42</a>');
    expect(page).toContain('<a href="http://mr-42.shop.localhost" rel="noreferrer">http://mr-42.shop.localhost</a>');
    expect(page).toContain("Vouchers &lt;b&gt;now&lt;/b&gt;");
    // Not live yet: its URL as text; a link that is not http(s) is no link.
    expect(page).not.toContain('href="http://mr-7.shop.localhost"');
    expect(page).not.toContain("javascript:");
    expect(page.indexOf('data-preview="42"')).toBeLessThan(page.indexOf('data-preview="7"'));
    expect(appPage(session, app, [build], [])).not.toContain('id="previews"');
  });

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

  it("names a service's port and host names (a preview's service has no port)", () => {
    const preview: Environment = {
      app: "shop",
      name: "mr-4",
      target: { kind: "local", services: { web: { hosts: ["mr-4.shop.localhost"] }, api: { port: 9000, hosts: ["api.example.com"] } } },
      auto: false,
      requiredApprovals: 0,
      freezes: [],
      createdAt: at,
      updatedAt: at,
    };
    const production: Environment = { ...preview, name: "production", target: app.target };
    const page = appPage(
      session,
      app,
      [build],
      [],
      [
        { env: production, waiting: [] },
        { env: preview, waiting: [] },
      ],
    );
    const text = (/<div class="card env" data-environment="mr-4">([\s\S]*?)<\/div>/.exec(page)?.[1] ?? "")
      .replace(/<[^>]+>/g, " ")
      .replace(/\s+/g, " ");
    expect(text).toContain("mr-4 web mr-4.shop.localhost, api :9000 api.example.com");
    expect(page).not.toContain(":undefined");
  });

  it("shows the environments side by side: what is live and what waits in each, and a promote button for the next", () => {
    const env = (name: string, port: number, extra: Partial<Environment> = {}): Environment => ({
      app: "shop",
      name,
      target: { kind: "local", services: { web: { port } } },
      auto: false,
      requiredApprovals: 0,
      freezes: [],
      createdAt: at,
      updatedAt: at,
      ...extra,
    });
    const stagingLive = { ...release(7, "live"), environment: "staging", buildId: "bld_9" } as Release;
    const page = appPage(
      session,
      app,
      [build],
      [release(2, "live")],
      [
        { env: env("production", 8081, { auto: false, requiredApprovals: 2 }), live: release(2, "live"), waiting: [release(3, "pending")] },
        { env: env("staging", 8082, { auto: true }), live: stagingLive, waiting: [] },
        { env: env("qa", 8083), waiting: [] },
      ],
    );
    const column = (name: string) =>
      (new RegExp(`<div class="card env" data-environment="${name}">([\\s\\S]*?)</div>`).exec(page)?.[1] ?? "")
        .replace(/<[^>]+>/g, " ")
        .replace(/\s+/g, " ")
        .trim();
    expect(column("production")).toBe(
      "production web :8081 · 2 approval(s) live: release #2 ( build ) – waiting: #3 pending Promote #7 from staging",
    );
    expect(column("staging")).toBe("staging web :8082 · auto live: release #7 ( build ) – Promote #2 from production");
    expect(column("qa")).toBe("qa web :8083 nothing live Promote #2 from production Promote #7 from staging");
    const forms = [...page.matchAll(/<form method="post" action="([^"]+)"(?:(?!<\/form>)[\s\S])*?name="releaseId" value="([^"]+)"/g)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    expect(forms).toEqual([
      `/apps/shop/environments/production/promote ${stagingLive.id}`,
      "/apps/shop/environments/staging/promote rel_2",
      "/apps/shop/environments/qa/promote rel_2",
      `/apps/shop/environments/qa/promote ${stagingLive.id}`,
    ]);
    // Two environments running the same build offer no promotion between them.
    const same = appPage(
      session,
      app,
      [],
      [],
      [
        { env: env("production", 8081), live: release(2, "live"), waiting: [] },
        { env: env("staging", 8082), live: { ...release(1, "live"), environment: "staging" } as Release, waiting: [] },
      ],
    );
    expect(same).toContain('id="environments"');
    expect(same).not.toContain("/environments/staging/promote");
    expect(same).not.toContain("/environments/production/promote");
    // With production alone, no panel.
    expect(appPage(session, app, [build], [], [{ env: env("production", 8081), waiting: [] }])).not.toContain('id="environments"');
  });
});
