import { Gitlab } from "@gitbeaker/rest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployKeyRoutes } from "../support/gitlab/deploy-keys.js";
import { hookRoutes } from "../support/gitlab/hooks.js";
import { projectRoutes } from "../support/gitlab/projects.js";
import { type GitlabTestServer, startGitlabServer } from "../support/gitlab/server.js";
import { userRoutes } from "../support/gitlab/users.js";

const TOKEN = "glpat-server-test-0123456789";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl hoist:x";

/** The GitLab test server answers validation errors in GitLab's shapes; the real gitbeaker client sees them. */
describe("GitLab test server: projects, hooks, deploy keys", () => {
  let gl: GitlabTestServer;
  let id: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on the JSON they get back
  const call = (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> =>
    fetch(`${gl.url}/api/v4${path}`, {
      method,
      headers: { "private-token": TOKEN, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: r.status === 204 ? undefined : await r.json() }));

  beforeAll(async () => {
    gl = await startGitlabServer([userRoutes, projectRoutes, hookRoutes, deployKeyRoutes]);
    gl.state.addUser("bot", TOKEN);
    id = gl.state.addProject(
      { path_with_namespace: "acme/web", default_branch: "main", ssh_url_to_repo: "git@gitlab.example.com:acme/web.git" },
      gl.url,
    ).id;
  });
  afterAll(async () => {
    await gl?.close();
  });

  it("finds projects by id or URL-encoded path, 404 otherwise", async () => {
    expect((await call("GET", `/projects/${id}`)).body).toMatchObject({ id, path_with_namespace: "acme/web" });
    expect((await call("GET", "/projects/acme%2Fweb")).body.id).toBe(id);
    expect(await call("GET", "/projects/424242")).toEqual({ status: 404, body: { message: "404 Project Not Found" } });
  });

  it("validates hooks like GitLab and never returns their token", async () => {
    expect(await call("POST", `/projects/${id}/hooks`, {})).toEqual({ status: 400, body: { error: "url is missing" } });
    expect(await call("POST", `/projects/${id}/hooks`, { url: "not a url" })).toEqual({
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
      enable_ssl_verification: true,
    });
    expect(JSON.stringify((await call("GET", `/projects/${id}/hooks`)).body)).not.toContain("s3cret");
    expect((await call("DELETE", `/projects/${id}/hooks/${made.body.id}`)).status).toBe(204);
    expect(await call("DELETE", `/projects/${id}/hooks/${made.body.id}`)).toEqual({
      status: 404,
      body: { message: "404 Not found Not Found" },
    });
  });

  it("validates deploy keys like GitLab, answering an already-added key with the existing one", async () => {
    expect(await call("POST", `/projects/${id}/deploy_keys`, { title: "x" })).toEqual({ status: 400, body: { error: "key is missing" } });
    expect(await call("POST", `/projects/${id}/deploy_keys`, { key: KEY })).toEqual({ status: 400, body: { error: "title is missing" } });
    const bad = await call("POST", `/projects/${id}/deploy_keys`, { title: "x", key: "ssh-ed25519 bm90IGEga2V5" });
    expect(bad).toEqual({ status: 400, body: { message: { key: ["is invalid"], fingerprint_sha256: ["cannot be generated"] } } });
    const first = await call("POST", `/projects/${id}/deploy_keys`, { title: "x", key: KEY });
    expect(first.body).toMatchObject({ can_push: false, fingerprint_sha256: expect.stringMatching(/^SHA256:/) });
    const again = await call("POST", `/projects/${id}/deploy_keys`, { title: "y", key: KEY.replace(" hoist:x", "") });
    expect(again.body.id).toBe(first.body.id);
    expect((await call("GET", `/projects/${id}/deploy_keys`)).body).toHaveLength(1);
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
