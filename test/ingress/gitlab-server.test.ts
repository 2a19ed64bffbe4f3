import { Gitlab } from "@gitbeaker/rest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployKeyRoutes } from "../support/gitlab/deploy-keys.js";
import { hookRoutes } from "../support/gitlab/hooks.js";
import { projectRoutes } from "../support/gitlab/projects.js";
import { type GitlabTestServer, startGitlabServer } from "../support/gitlab/server.js";
import { userRoutes } from "../support/gitlab/users.js";

const TOKEN = "glpat-server-test-0123456789";
const DEV_TOKEN = "glpat-developer-0123456789";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl hoist:x";

/** The GitLab test server answers validation errors in GitLab's shapes; the real gitbeaker client sees them. */
describe("GitLab test server: projects, hooks, deploy keys", () => {
  let gl: GitlabTestServer;
  let id: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
  const call = (method: string, path: string, body?: unknown, token = TOKEN): Promise<{ status: number; body: any; headers: Headers }> =>
    fetch(`${gl.url}/api/v4${path}`, {
      method,
      headers: { "private-token": token, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: r.status === 204 ? undefined : await r.json(), headers: r.headers }));

  beforeAll(async () => {
    gl = await startGitlabServer([userRoutes, projectRoutes, hookRoutes, deployKeyRoutes]);
    const bot = gl.state.addUser("bot", TOKEN);
    const dev = gl.state.addUser("dev", DEV_TOKEN);
    const project = gl.state.addProject(
      { path_with_namespace: "acme/web", default_branch: "main", ssh_url_to_repo: "git@gitlab.example.com:acme/web.git" },
      gl.url,
    );
    gl.state.addMember(project, bot, "maintainer");
    gl.state.addMember(project, dev, "developer");
    id = project.id;
  });
  afterAll(async () => {
    await gl?.close();
  });

  it("finds projects by id or URL-encoded path, 404 otherwise", async () => {
    expect((await call("GET", `/projects/${id}`)).body).toMatchObject({ id, path_with_namespace: "acme/web" });
    expect((await call("GET", "/projects/acme%2Fweb")).body.id).toBe(id);
    expect(await call("GET", "/projects/424242")).toMatchObject({ status: 404, body: { message: "404 Project Not Found" } });
  });

  it("validates hooks like GitLab and never returns their token", async () => {
    expect(await call("POST", `/projects/${id}/hooks`, {})).toMatchObject({ status: 400, body: { error: "url is missing" } });
    expect(await call("POST", `/projects/${id}/hooks`, { url: "not a url" })).toMatchObject({
      status: 422,
      body: { message: "Invalid url given" },
    });
    expect((await call("POST", `/projects/${id}/hooks`, { url: "https://h.example/x", push_events: "maybe" })).status).toBe(400);
    const made = await call("POST", `/projects/${id}/hooks`, { url: "https://h.example/x", token: "s3cret", tag_push_events: true });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      url: "https://h.example/x",
      push_events: true,
      tag_push_events: true,
      merge_requests_events: false,
      enable_ssl_verification: true,
    });
    // Merge request events are kept as set, and an edit that does not name them leaves them.
    const mr = await call("PUT", `/projects/${id}/hooks/${made.body.id}`, { merge_requests_events: true });
    expect(mr.body).toMatchObject({ merge_requests_events: true, tag_push_events: true });
    expect((await call("PUT", `/projects/${id}/hooks/${made.body.id}`, { push_events: false })).body.merge_requests_events).toBe(true);
    expect((await call("GET", `/projects/${id}/hooks/${made.body.id}`)).body.merge_requests_events).toBe(true);
    expect(JSON.stringify((await call("GET", `/projects/${id}/hooks`)).body)).not.toContain("s3cret");
    expect((await call("DELETE", `/projects/${id}/hooks/${made.body.id}`)).status).toBe(204);
    expect(await call("DELETE", `/projects/${id}/hooks/${made.body.id}`)).toMatchObject({
      status: 404,
      body: { message: "404 Not found Not Found" },
    });
  });

  it("validates deploy keys like GitLab, answering an already-added key with the existing one", async () => {
    expect(await call("POST", `/projects/${id}/deploy_keys`, { title: "x" })).toMatchObject({
      status: 400,
      body: { error: "key is missing" },
    });
    expect(await call("POST", `/projects/${id}/deploy_keys`, { key: KEY })).toMatchObject({
      status: 400,
      body: { error: "title is missing" },
    });
    const bad = await call("POST", `/projects/${id}/deploy_keys`, { title: "x", key: "ssh-ed25519 bm90IGEga2V5" });
    expect(bad).toMatchObject({ status: 400, body: { message: { key: ["is invalid"], fingerprint_sha256: ["cannot be generated"] } } });
    const first = await call("POST", `/projects/${id}/deploy_keys`, { title: "x", key: KEY });
    expect(first.body).toMatchObject({ can_push: false, fingerprint_sha256: expect.stringMatching(/^SHA256:/) });
    const again = await call("POST", `/projects/${id}/deploy_keys`, { title: "y", key: KEY.replace(" hoist:x", "") });
    expect(again.body.id).toBe(first.body.id);
    expect((await call("GET", `/projects/${id}/deploy_keys`)).body).toHaveLength(1);
  });

  it("refuses hooks on loopback and private addresses unless the admin allowed local requests", async () => {
    for (const url of [
      "http://127.0.0.1:8080/hook",
      "http://localhost/hook",
      "http://[::1]/hook",
      "http://10.0.0.5/hook",
      "http://192.168.1.2/hook",
    ]) {
      expect(await call("POST", `/projects/${id}/hooks`, { url }), url).toMatchObject({
        status: 422,
        body: { message: "Invalid url given" },
      });
    }
    const made = await call("POST", `/projects/${id}/hooks`, { url: "https://h.example/local" });
    expect(await call("PUT", `/projects/${id}/hooks/${made.body.id}`, { url: "http://127.0.0.1/x" })).toMatchObject({
      status: 422,
      body: { message: "Invalid url given" },
    });
    gl.state.settings.allowLocalRequestsFromWebHooksAndServices = true;
    try {
      expect((await call("POST", `/projects/${id}/hooks`, { url: "http://127.0.0.1:8080/hook" })).status).toBe(201);
    } finally {
      gl.state.settings.allowLocalRequestsFromWebHooksAndServices = false;
    }
  });

  it("needs Maintainer for hooks and deploy keys (403), a member to see the project (404), a valid token (401)", async () => {
    for (const [method, path, body] of [
      ["GET", `/projects/${id}/hooks`],
      ["POST", `/projects/${id}/hooks`, { url: "https://h.example/dev" }],
      ["GET", `/projects/${id}/deploy_keys`],
      ["POST", `/projects/${id}/deploy_keys`, { title: "dev", key: KEY }],
    ] as const) {
      expect(await call(method, path, body, DEV_TOKEN), `${method} ${path}`).toMatchObject({
        status: 403,
        body: { message: "403 Forbidden" },
      });
      expect(await call(method, path, body, "glpat-wrong"), `${method} ${path}`).toMatchObject({
        status: 401,
        body: { message: "401 Unauthorized" },
      });
    }
    expect((await call("GET", `/projects/${id}`, undefined, DEV_TOKEN)).status).toBe(200);
    const outsider = gl.state.addUser("outsider", "glpat-outsider-0123456789");
    expect(await call("GET", `/projects/${id}/hooks`, undefined, outsider.token)).toMatchObject({
      status: 404,
      body: { message: "404 Project Not Found" },
    });
  });

  it("pages hooks and deploy keys as GitLab does, and gitbeaker follows the Link header to page 2", async () => {
    const other = gl.state.addProject(
      { path_with_namespace: "acme/paged", default_branch: "main", ssh_url_to_repo: "git@g:acme/paged.git" },
      gl.url,
    );
    gl.state.addMember(other, gl.state.users[0]!, "maintainer");
    for (let i = 0; i < 23; i++) await call("POST", `/projects/${other.id}/hooks`, { url: `https://h.example/${i}` });
    const first = await call("GET", `/projects/${other.id}/hooks`);
    expect(first.body.map((h: { url: string }) => h.url)).toEqual(Array.from({ length: 20 }, (_, i) => `https://h.example/${i}`));
    expect(first.headers.get("x-total")).toBe("23");
    expect(first.headers.get("x-total-pages")).toBe("2");
    expect(first.headers.get("x-next-page")).toBe("2");
    expect(first.headers.get("link")).toContain(`<${gl.url}/api/v4/projects/${other.id}/hooks?page=2&per_page=20>; rel="next"`);
    const second = await call("GET", `/projects/${other.id}/hooks?page=2`);
    expect(second.body.map((h: { url: string }) => h.url)).toEqual([
      "https://h.example/20",
      "https://h.example/21",
      "https://h.example/22",
    ]);
    expect((await call("GET", `/projects/${other.id}/hooks?per_page=5&page=5`)).body).toHaveLength(3);

    const api = new Gitlab({ host: gl.url, token: TOKEN });
    expect(await api.ProjectHooks.all(other.id)).toHaveLength(23);
    expect(await api.ProjectHooks.all(other.id, { perPage: 20, maxPages: 1 })).toHaveLength(20);
    for (let i = 0; i < 21; i++) {
      const key = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, i)]).toString("base64")}`;
      expect((await call("POST", `/projects/${other.id}/deploy_keys`, { title: `k${i}`, key })).status).toBe(201);
    }
    const keys = await call("GET", `/projects/${other.id}/deploy_keys`);
    expect(keys.body).toHaveLength(20);
    expect(keys.headers.get("x-total")).toBe("21");
    expect(await api.DeployKeys.all({ projectId: other.id })).toHaveLength(21);
  });

  it("is what the real gitbeaker client talks to, errors included", async () => {
    const api = new Gitlab({ host: gl.url, token: TOKEN });
    const hook = await api.ProjectHooks.add(id, "https://h.example/y", { pushEvents: true, pushEventsBranchFilter: "release/*" });
    expect(hook).toMatchObject({ url: "https://h.example/y", push_events_branch_filter: "release/*" });
    const err = (await api.ProjectHooks.add(id, "::").catch((e: unknown) => e)) as {
      cause?: { description?: string; response?: Response };
    };
    expect(err.cause?.response?.status).toBe(422);
    expect(err.cause?.description).toBe("Invalid url given");
    const denied = (await new Gitlab({ host: gl.url, token: "nope" }).Users.showCurrentUser().catch((e: unknown) => e)) as {
      cause?: { response?: Response };
    };
    expect(denied.cause?.response?.status).toBe(401);
  });
});
