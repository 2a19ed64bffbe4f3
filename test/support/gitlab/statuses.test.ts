import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type GitlabTestServer, startGitlabServer } from "./server.js";
import { statusHistory, statusRoutes } from "./statuses.js";
import { userRoutes } from "./users.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
let gl: GitlabTestServer;
let projectId: number;
beforeEach(async () => {
  gl = await startGitlabServer([userRoutes, statusRoutes]);
  gl.state.addUser("bot", "tok");
  projectId = gl.state.addProject({ path_with_namespace: "acme/shop", default_branch: "main", ssh_url_to_repo: "x" }, gl.url).id;
});
afterEach(() => gl.close());

async function post(body: Record<string, string>, project: string | number = projectId, sha = SHA) {
  const res = await fetch(`${gl.url}/api/v4/projects/${project}/statuses/${sha}`, {
    method: "POST",
    headers: { "private-token": "tok", "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("GitLab test server: commit statuses", () => {
  it("creates and advances a status as GitLab does, and lists it", async () => {
    const created = await post({ state: "pending", name: "ci", ref: "main", target_url: "https://x/1", description: "queued" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      sha: SHA,
      status: "pending",
      name: "ci",
      ref: "main",
      target_url: "https://x/1",
      description: "queued",
    });
    expect((await post({ state: "running", name: "ci", ref: "main" })).status).toBe(201);
    expect((await post({ state: "success", name: "ci", ref: "main" })).body).toMatchObject({ id: created.body.id, status: "success" });
    const list = await fetch(`${gl.url}/api/v4/projects/acme%2Fshop/repository/commits/${SHA}/statuses`, {
      headers: { "private-token": "tok" },
    });
    expect(await list.json()).toEqual([expect.objectContaining({ status: "success", name: "ci", description: "queued" })]);
    expect(statusHistory(gl.state).map((s) => s.status)).toEqual(["pending", "running", "success"]);
  });

  it("refuses illegal transitions, bad states and unknown projects with GitLab's answers", async () => {
    await post({ state: "success", name: "ci" });
    expect(await post({ state: "running", name: "ci" })).toEqual({
      status: 400,
      body: { message: "Cannot transition status via :run from :success" },
    });
    await post({ state: "running", name: "other" });
    expect(await post({ state: "running", name: "other" })).toEqual({
      status: 400,
      body: { message: "Cannot transition status via :run from :running" },
    });
    expect(await post({ state: "pending", name: "other" })).toEqual({
      status: 400,
      body: { message: "Cannot transition status via :enqueue from :running" },
    });
    expect(await post({ state: "done", name: "ci" })).toEqual({ status: 400, body: { error: "state does not have a valid value" } });
    expect(await post({ name: "ci" })).toEqual({ status: 400, body: { error: "state is missing" } });
    expect(await post({ state: "pending" }, 999)).toEqual({ status: 404, body: { message: "404 Project Not Found" } });
  });

  it("needs a token", async () => {
    const res = await fetch(`${gl.url}/api/v4/projects/${projectId}/statuses/${SHA}`, { method: "POST" });
    expect(res.status).toBe(401);
  });
});
