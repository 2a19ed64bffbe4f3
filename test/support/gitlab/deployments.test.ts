import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deploymentRoutes } from "./deployments.js";
import { freezePeriodRoutes } from "./freeze-periods.js";
import { type GitlabTestServer, startGitlabServer } from "./server.js";
import type { GitlabProject } from "./state.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
let gl: GitlabTestServer;
let project: GitlabProject;
beforeEach(async () => {
  gl = await startGitlabServer([freezePeriodRoutes, deploymentRoutes]);
  const bot = gl.state.addUser("bot", "tok");
  const viewer = gl.state.addUser("viewer", "reporter-tok");
  gl.state.addUser("stranger", "stranger-tok");
  project = gl.state.addProject({ path_with_namespace: "acme/shop", default_branch: "main", ssh_url_to_repo: "x" }, gl.url);
  gl.state.addMember(project, bot, "developer");
  gl.state.addMember(project, viewer, "reporter");
});
afterEach(() => gl.close());

async function call(method: string, path: string, body?: unknown, token = "tok") {
  const res = await fetch(`${gl.url}/api/v4${path}`, {
    method,
    headers: { "private-token": token, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
}

describe("GitLab test server: freeze periods", () => {
  it("lists a project's periods page by page, as GitLab does", async () => {
    for (let i = 0; i < 25; i++)
      gl.state.addFreezePeriod(project, { freeze_start: `${i} 23 * * 5`, freeze_end: "0 7 * * 1", cron_timezone: "Europe/Berlin" });
    const first = await call("GET", `/projects/${project.id}/freeze_periods`);
    expect(first.status).toBe(200);
    expect(first.body).toHaveLength(20);
    expect((first.body as Record<string, unknown>[])[0]).toMatchObject({
      freeze_start: "0 23 * * 5",
      freeze_end: "0 7 * * 1",
      cron_timezone: "Europe/Berlin",
    });
    expect(first.headers.get("x-total")).toBe("25");
    expect(first.headers.get("x-next-page")).toBe("2");
    const second = await call("GET", `/projects/acme%2Fshop/freeze_periods?page=2`);
    expect(second.body).toHaveLength(5);
    const one = (first.body as { id: number }[])[3]!;
    expect((await call("GET", `/projects/${project.id}/freeze_periods/${one.id}`)).body).toMatchObject({
      id: one.id,
      freeze_start: "3 23 * * 5",
    });
  });

  it("is strict: a bad token 401, no access 404 (or 403 below Developer), an unknown project or period 404", async () => {
    expect((await call("GET", `/projects/${project.id}/freeze_periods`, undefined, "nope")).status).toBe(401);
    expect(await call("GET", `/projects/${project.id}/freeze_periods`, undefined, "stranger-tok")).toMatchObject({
      status: 404,
      body: { message: "404 Project Not Found" },
    });
    expect((await call("GET", `/projects/${project.id}/freeze_periods`, undefined, "reporter-tok")).status).toBe(403);
    expect((await call("GET", "/projects/999/freeze_periods")).status).toBe(404);
    expect(await call("GET", `/projects/${project.id}/freeze_periods/999`)).toMatchObject({
      status: 404,
      body: { message: "404 Freeze Period Not Found" },
    });
  });
});

describe("GitLab test server: environments and deployments", () => {
  it("creates a running deployment (and its environment), then moves it to success; a repeat is refused", async () => {
    const created = await call("POST", `/projects/${project.id}/deployments`, {
      environment: "staging",
      sha: SHA,
      ref: "main",
      tag: false,
      status: "running",
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ iid: 1, sha: SHA, ref: "main", status: "running", environment: { name: "staging" } });
    const id = (created.body as { id: number }).id;
    expect((await call("PUT", `/projects/${project.id}/deployments/${id}`, { status: "success" })).body).toMatchObject({
      status: "success",
    });
    expect(await call("PUT", `/projects/${project.id}/deployments/${id}`, { status: "success" })).toEqual(
      expect.objectContaining({ status: 400, body: { message: "Cannot transition status via :succeed from :success" } }),
    );
    const envs = await call("GET", `/projects/${project.id}/environments?name=staging`);
    expect(envs.body).toEqual([expect.objectContaining({ name: "staging", external_url: null })]);
    const list = await call("GET", `/projects/${project.id}/deployments?environment=staging&status=success`);
    expect(list.body).toEqual([expect.objectContaining({ id, status: "success" })]);
  });

  it("is strict about parameters, roles and what exists", async () => {
    expect(
      await call("POST", `/projects/${project.id}/deployments`, { sha: SHA, ref: "main", tag: false, status: "running" }),
    ).toMatchObject({
      status: 400,
      body: { error: "environment is missing" },
    });
    expect(
      (await call("POST", `/projects/${project.id}/deployments`, { environment: "x", sha: SHA, ref: "main", tag: false, status: "done" }))
        .status,
    ).toBe(400);
    expect(
      (
        await call(
          "POST",
          `/projects/${project.id}/deployments`,
          { environment: "x", sha: SHA, ref: "main", tag: false, status: "running" },
          "reporter-tok",
        )
      ).status,
    ).toBe(403);
    expect(
      (
        await call(
          "POST",
          `/projects/${project.id}/deployments`,
          { environment: "x", sha: SHA, ref: "main", tag: false, status: "running" },
          "stranger-tok",
        )
      ).status,
    ).toBe(404);
    expect((await call("PUT", `/projects/${project.id}/deployments/999`, { status: "success" })).status).toBe(404);
    expect((await call("POST", `/projects/${project.id}/environments`, { name: "prod", external_url: "javascript:alert(1)" })).status).toBe(
      400,
    );
    const env = await call("POST", `/projects/${project.id}/environments`, { name: "prod", external_url: "https://shop.example.com" });
    expect(env).toMatchObject({ status: 201, body: { name: "prod", external_url: "https://shop.example.com" } });
    expect((await call("POST", `/projects/${project.id}/environments`, { name: "prod" })).status).toBe(400);
  });
});
