import { readFileSync } from "node:fs";
import { secretContexts } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushPayload } from "../support/api/fixtures.js";
import { type ApiHarness, startApi } from "../support/api/harness.js";
import { deployKeyRoutes } from "../support/gitlab/deploy-keys.js";
import { hookRoutes } from "../support/gitlab/hooks.js";
import { projectRoutes } from "../support/gitlab/projects.js";
import { type GitlabTestServer, startGitlabServer } from "../support/gitlab/server.js";
import { userRoutes } from "../support/gitlab/users.js";
import { deliver } from "./webhook-helpers.js";

const GITLAB_TOKEN = "glpat-test-0123456789abcdefghij";
const DEVELOPER_TOKEN = "glpat-developer-0123456789abcdef";

/** A valid ed25519 public key line whose key bytes are all `n`: another tool's deploy key. */
function otherKey(n: number): string {
  const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, n)]);
  return `ssh-ed25519 ${blob.toString("base64")} other-${n}`;
}

/** The real @gitbeaker/rest client against the GitLab test server; host keys from the test sshd. */
describe("GitLab connections and app linking", () => {
  let h: ApiHarness;
  let gl: GitlabTestServer;
  let projectId: number;
  let connection: string;
  const sshPort = process.env.HOIST_TEST_SSH_PORT;

  beforeAll(async () => {
    if (!sshPort) throw new Error("HOIST_TEST_SSH_PORT is not set: run with the sshd of the vitest global setup");
    h = await startApi();
    gl = await startGitlabServer([userRoutes, projectRoutes, hookRoutes, deployKeyRoutes]);
    const bot = gl.state.addUser("hoist-bot", GITLAB_TOKEN);
    const developer = gl.state.addUser("dev", DEVELOPER_TOKEN);
    const project = gl.state.addProject(
      { path_with_namespace: "acme/web", default_branch: "main", ssh_url_to_repo: `ssh://git@127.0.0.1:${sshPort}/acme/web.git` },
      gl.url,
    );
    gl.state.addMember(project, bot, "maintainer");
    gl.state.addMember(project, developer, "developer");
    projectId = project.id;
    await h.api("POST", "/apps", { name: "web", branch: "main", repo: { sshUrl: "git@placeholder:acme/web.git" } });
  });
  afterAll(async () => {
    await h?.close();
    await gl?.close();
  });

  it("verifies a connection's token with GitLab before storing it sealed, and never returns it", async () => {
    const bad = await h.api("POST", "/gitlab/connections", { url: gl.url, token: "glpat-wrong" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "gitlab_rejected", message: expect.stringMatching(/invalid, expired or revoked/) });
    expect(JSON.stringify(bad.body)).not.toContain("glpat-wrong");
    const down = await h.api("POST", "/gitlab/connections", { url: "http://127.0.0.1:9", token: GITLAB_TOKEN });
    expect(down.status).toBe(502);
    expect(JSON.stringify(down.body)).not.toContain(GITLAB_TOKEN);

    const res = await h.api("POST", "/gitlab/connections", { url: `${gl.url}/`, token: GITLAB_TOKEN });
    expect(res.status).toBe(201);
    expect(res.body.connection).toEqual({
      id: expect.stringMatching(/^glc_/),
      url: gl.url,
      username: "hoist-bot",
      createdAt: expect.any(String),
    });
    connection = res.body.connection.id;
    const stored = await h.deps.records.gitlabConnections.require(connection);
    expect(JSON.stringify(stored)).not.toContain(GITLAB_TOKEN);
    expect((await h.deps.secrets.open(stored.token, secretContexts.gitlabToken(connection))).toString()).toBe(GITLAB_TOKEN);
    const list = await h.api("GET", "/gitlab/connections");
    expect(JSON.stringify(list.body)).not.toContain(GITLAB_TOKEN);
    expect(list.body.connections).toHaveLength(1);
  });

  it("links: push + tag-push hook on the branch with SSL verification, read-only deploy key, SSH URL, pinned host key", async () => {
    const res = await h.api("POST", "/apps/web/gitlab/link", { connection, projectId });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const app = res.body.app;
    expect(gl.state.hooks).toHaveLength(1);
    const hook = gl.state.hooks[0]!;
    expect(hook).toMatchObject({
      project_id: projectId,
      url: app.webhook.url,
      push_events: true,
      tag_push_events: true,
      merge_requests_events: true,
      push_events_branch_filter: "main",
      enable_ssl_verification: true,
    });
    expect(hook.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(gl.state.deployKeys).toEqual([
      expect.objectContaining({ project_id: projectId, key: app.deployKey.publicKey, can_push: false, title: "hoist:web" }),
    ]);
    expect(app.repo).toEqual({ sshUrl: `ssh://git@127.0.0.1:${sshPort}/acme/web.git`, projectId });
    expect(app.gitlab).toMatchObject({ connectionId: connection, projectId, hookId: hook.id, deployKeyId: gl.state.deployKeys[0]!.id });
    const hostKey = readFileSync(process.env.HOIST_TEST_SSH_HOST_KEY as string, "utf8")
      .trim()
      .split(" ")
      .slice(0, 2)
      .join(" ");
    expect(app.hostKeys).toContain(`[127.0.0.1]:${sshPort} ${hostKey}`);
    // GitLab holds the secret token now: its deliveries are accepted.
    const local = `${h.url}${new URL(app.webhook.url).pathname}`;
    expect((await deliver(local, { event: "Push Hook", token: hook.token, body: pushPayload() })).status).toBe(202);
  });

  it("is idempotent: linking again creates no second hook or key, and the hook's new token replaces the old", async () => {
    const oldToken = gl.state.hooks[0]!.token!;
    // A hook linked before previews existed had no merge request events: the next link turns them on.
    gl.state.hooks[0]!.merge_requests_events = false;
    const res = await h.api("POST", "/apps/web/gitlab/link", { connection, projectId });
    expect(res.status).toBe(200);
    expect(gl.state.hooks).toHaveLength(1);
    expect(gl.state.hooks[0]?.merge_requests_events).toBe(true);
    expect(gl.state.deployKeys).toHaveLength(1);
    const newToken = gl.state.hooks[0]!.token!;
    expect(newToken).not.toBe(oldToken);
    const local = `${h.url}${new URL(res.body.app.webhook.url).pathname}`;
    expect((await deliver(local, { event: "Push Hook", token: oldToken, body: pushPayload() })).status).toBe(401);
    expect((await deliver(local, { event: "Push Hook", token: newToken, body: pushPayload() })).status).toBe(202);
    const other = await h.api("POST", "/apps/web/gitlab/link", { connection, projectId: projectId + 1000 });
    expect(other.status).toBe(409);
  });

  it("keeps the GitLab hook's branch filter in step with the app's, without changing its token", async () => {
    const token = gl.state.hooks[0]!.token;
    const res = await h.api("PATCH", "/apps/web", { branch: "release/*" });
    expect(res.status).toBe(200);
    expect(gl.state.hooks[0]).toMatchObject({ push_events_branch_filter: "release/*", token, push_events: true, tag_push_events: true });
    await h.api("PATCH", "/apps/web", { branch: "main" });
    expect(gl.state.hooks[0]?.push_events_branch_filter).toBe("main");
  });

  it("reports GitLab's refusals and missing projects clearly", async () => {
    await h.api("POST", "/apps", { name: "api", repo: { sshUrl: "git@placeholder:acme/api.git" } });
    const missing = await h.api("POST", "/apps/api/gitlab/link", { connection, projectId: 999_999 });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/project 999999 failed: not found/);
    // A Developer's token may read the project but not manage its hooks: GitLab's 403, explained.
    const devConn = (await h.api("POST", "/gitlab/connections", { url: gl.url, token: DEVELOPER_TOKEN })).body.connection.id;
    const forbidden = await h.api("POST", "/apps/api/gitlab/link", { connection: devConn, projectId });
    expect(forbidden.status).toBe(400);
    expect(forbidden.body.error.message).toMatch(/list hooks failed: .*Maintainer access to the project \(GitLab answered 403\)$/);
    // GitLab's own text ("403 Forbidden") is not echoed: only its status.
    expect(forbidden.body.error.message).not.toContain("Forbidden");
    expect(gl.state.hooks.filter((x) => x.project_id === projectId)).toHaveLength(1);
    expect((await h.api("POST", "/apps/api/gitlab/link", { connection: "glc_nope", projectId })).status).toBe(404);
    expect((await h.api("POST", "/apps/api/gitlab/link", { connection, projectId: "1" })).status).toBe(400);
    expect((await h.api("GET", "/apps/api")).body.app.gitlab).toBeNull();
  });

  it("finds its hook and deploy key on page 2 of GitLab's lists: linking again adds neither", async () => {
    const busy = gl.state.addProject(
      { path_with_namespace: "acme/busy", default_branch: "main", ssh_url_to_repo: `ssh://git@127.0.0.1:${sshPort}/acme/busy.git` },
      gl.url,
    );
    gl.state.addMember(busy, gl.state.users[0]!, "maintainer");
    // More than one page of other tools' hooks and keys (GitLab's largest page is 100).
    for (let i = 0; i < 105; i++) {
      gl.state.hooks.push({
        id: gl.state.nextId(),
        project_id: busy.id,
        url: `https://ci.example.com/hook/${i}`,
        push_events: true,
        tag_push_events: false,
        merge_requests_events: false,
        push_events_branch_filter: "",
        enable_ssl_verification: true,
        created_at: new Date().toISOString(),
      });
      gl.state.deployKeys.push({
        id: gl.state.nextId(),
        project_id: busy.id,
        title: `other ${i}`,
        key: otherKey(i),
        can_push: false,
        created_at: new Date().toISOString(),
      });
    }
    await h.api("POST", "/apps", { name: "busy", repo: { sshUrl: "git@placeholder:acme/busy.git" } });
    expect((await h.api("POST", "/apps/busy/gitlab/link", { connection, projectId: busy.id })).status).toBe(200);
    const posts = () =>
      gl.state.requests.filter((r) => r.method === "POST" && r.path.startsWith(`/projects/${busy.id}/`)).map((r) => r.path);
    expect(posts()).toEqual([`/projects/${busy.id}/hooks`, `/projects/${busy.id}/deploy_keys`]);
    const before = gl.state.requests.length;
    const again = await h.api("POST", "/apps/busy/gitlab/link", { connection, projectId: busy.id });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    // Found on page 2: edited in place, nothing added.
    expect(posts()).toHaveLength(2);
    const lists = gl.state.requests.slice(before).filter((r) => r.method === "GET" && /\/(hooks|deploy_keys)$/.test(r.path));
    expect(lists.length).toBeGreaterThanOrEqual(4);
    const mine = gl.state.hooks.filter((x) => x.project_id === busy.id && x.url === again.body.app.webhook.url);
    expect(mine).toHaveLength(1);
    expect(again.body.app.gitlab).toMatchObject({ hookId: mine[0]!.id });
    expect(gl.state.deployKeys.filter((k) => k.project_id === busy.id && k.title === "hoist:busy")).toHaveLength(1);
    expect((await h.api("DELETE", "/apps/busy")).status).toBe(204);
  });

  it("explains GitLab's refusal of a loopback hook URL: HOIST_PUBLIC_URL or GitLab's local-network setting", async () => {
    const local = await startApi({ env: { HOIST_PUBLIC_URL: "http://127.0.0.1:8080" } });
    try {
      await local.api("POST", "/apps", { name: "local", repo: { sshUrl: "git@placeholder:acme/web.git" } });
      const conn = (await local.api("POST", "/gitlab/connections", { url: gl.url, token: GITLAB_TOKEN })).body.connection.id;
      const hooksBefore = gl.state.hooks.length;
      const res = await local.api("POST", "/apps/local/gitlab/link", { connection: conn, projectId });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("gitlab_rejected");
      expect(res.body.error.message).toContain("http://127.0.0.1:8080/webhooks/gitlab/");
      expect(res.body.error.message).toContain('"Allow requests to the local network from webhooks and integrations"');
      expect(res.body.error.message).toContain("HOIST_PUBLIC_URL");
      expect(gl.state.hooks).toHaveLength(hooksBefore);
      expect((await local.api("GET", "/apps/local")).body.app.gitlab).toBeNull();
      // With the GitLab setting on, the same link goes through.
      gl.state.settings.allowLocalRequestsFromWebHooksAndServices = true;
      const ok = await local.api("POST", "/apps/local/gitlab/link", { connection: conn, projectId });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect((await local.api("DELETE", "/apps/local")).status).toBe(204);
    } finally {
      gl.state.settings.allowLocalRequestsFromWebHooksAndServices = false;
      await local.close();
    }
  });

  it("unlinks: removes the hook and the deploy key from GitLab, twice without error", async () => {
    const hookId = (await h.deps.records.apps.require("web")).hookId!;
    const hooksBefore = gl.state.hooks.filter((x) => x.url.endsWith(hookId));
    expect(hooksBefore).toHaveLength(1);
    const res = await h.api("DELETE", "/apps/web/gitlab/link");
    expect(res.status).toBe(200);
    expect(res.body.app.gitlab).toBeNull();
    expect(gl.state.hooks.filter((x) => x.id === hooksBefore[0]!.id)).toHaveLength(0);
    expect(gl.state.deployKeys.filter((k) => k.title === "hoist:web")).toHaveLength(0);
    expect((await h.api("DELETE", "/apps/web/gitlab/link")).status).toBe(200);
  });

  it("deleting a linked app removes its hook and key from GitLab", async () => {
    await h.api("POST", "/apps/web/gitlab/link", { connection, projectId });
    expect(gl.state.hooks.length).toBeGreaterThan(0);
    expect((await h.api("DELETE", "/apps/web")).status).toBe(204);
    expect(gl.state.deployKeys.filter((k) => k.title === "hoist:web")).toHaveLength(0);
    const hookPath = gl.state.requests.filter((r) => r.method === "DELETE" && /\/hooks\/\d+$/.test(r.path));
    expect(hookPath.length).toBeGreaterThanOrEqual(2);
  });
});
