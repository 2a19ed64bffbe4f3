import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type GitlabTestServer, startGitlabServer } from "./server.js";
import type { GitlabProject } from "./state.js";
import { statusHistory, statusRoutes } from "./statuses.js";
import { userRoutes } from "./users.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const LOOSE = "89abcdef0123456789abcdef0123456789abcdef";
let gl: GitlabTestServer;
let project: GitlabProject;
beforeEach(async () => {
  gl = await startGitlabServer([userRoutes, statusRoutes]);
  const bot = gl.state.addUser("bot", "tok");
  const viewer = gl.state.addUser("viewer", "reporter-tok");
  gl.state.addUser("stranger", "stranger-tok");
  project = gl.state.addProject({ path_with_namespace: "acme/shop", default_branch: "main", ssh_url_to_repo: "x" }, gl.url);
  gl.state.addMember(project, bot, "developer");
  gl.state.addMember(project, viewer, "reporter");
  gl.state.addCommit(project, SHA, ["main"]);
  gl.state.addCommit(project, LOOSE, []);
});
afterEach(() => gl.close());

async function post(body: Record<string, string>, opts: { project?: string | number; sha?: string; token?: string } = {}) {
  const res = await fetch(`${gl.url}/api/v4/projects/${opts.project ?? project.id}/statuses/${opts.sha ?? SHA}`, {
    method: "POST",
    headers: { "private-token": opts.token ?? "tok", "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function list(query = "") {
  const res = await fetch(`${gl.url}/api/v4/projects/acme%2Fshop/repository/commits/${SHA}/statuses${query}`, {
    headers: { "private-token": "tok" },
  });
  return { res, body: (await res.json()) as Record<string, unknown>[] };
}

const refused = (event: string, from: string) => ({
  status: 400,
  body: { message: `Cannot transition status via :${event} from :${from} (Reason(s): Status cannot transition via "${event}")` },
});

describe("GitLab test server: commit statuses", () => {
  it("creates and advances a status in place while it is pending or running, and lists it", async () => {
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
    expect((await post({ state: "running", name: "ci", ref: "main" })).body).toMatchObject({ id: created.body.id, status: "running" });
    expect((await post({ state: "success", name: "ci", ref: "main" })).body).toMatchObject({ id: created.body.id, status: "success" });
    expect((await list()).body).toEqual([expect.objectContaining({ status: "success", name: "ci", description: "queued" })]);
    expect(statusHistory(gl.state).map((s) => s.status)).toEqual(["pending", "running", "success"]);
  });

  it("answers an update to a finished status with a new status, as GitLab does; the list keeps the latest", async () => {
    const first = await post({ state: "success", name: "ci" });
    expect(first.body).toMatchObject({ status: "success", ref: "main" });
    // No 400: GitLab only updates a pending or running status, so this starts a new one.
    const again = await post({ state: "running", name: "ci", description: "rerun" });
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ status: "running", description: "rerun" });
    expect(again.body.id).not.toBe(first.body.id);
    const pending = await post({ state: "pending", name: "ci2" });
    expect((await post({ state: "failed", name: "ci2" })).body).toMatchObject({ id: pending.body.id, status: "failed" });
    expect((await post({ state: "pending", name: "ci2" })).body.id).not.toBe(pending.body.id);
    expect((await list()).body.map((s) => `${s.name}:${s.status}`)).toEqual(["ci:running", "ci2:pending"]);
    expect((await list("?all=true")).body.map((s) => `${s.name}:${s.status}`)).toEqual([
      "ci:success",
      "ci:running",
      "ci2:failed",
      "ci2:pending",
    ]);
    expect(statusHistory(gl.state).map((s) => `${s.name}:${s.status}`)).toEqual([
      "ci:success",
      "ci:running",
      "ci2:pending",
      "ci2:failed",
      "ci2:pending",
    ]);
  });

  it("refuses what the state machine refuses, with GitLab's text, and changes nothing", async () => {
    await post({ state: "pending", name: "ci", description: "queued" });
    expect(await post({ state: "pending", name: "ci", description: "again" })).toEqual(refused("enqueue", "pending"));
    await post({ state: "running", name: "ci" });
    expect(await post({ state: "running", name: "ci" })).toEqual(refused("run", "running"));
    expect(await post({ state: "pending", name: "ci" })).toEqual(refused("enqueue", "running"));
    expect(await post({ state: "skipped", name: "ci" })).toEqual(refused("skip", "running"));
    expect((await list()).body).toEqual([expect.objectContaining({ status: "running", description: "queued" })]);
    expect(statusHistory(gl.state).map((s) => s.status)).toEqual(["pending", "running"]);
  });

  it("answers bad input, unknown commits and refs, and missing access as GitLab does", async () => {
    expect(await post({ state: "done", name: "ci" })).toEqual({ status: 400, body: { error: "state does not have a valid value" } });
    expect(await post({ name: "ci" })).toEqual({ status: 400, body: { error: "state is missing" } });
    expect(await post({ state: "pending" }, { project: 999 })).toEqual({ status: 404, body: { message: "404 Project Not Found" } });
    expect(await post({ state: "pending" }, { sha: "f".repeat(40) })).toEqual({ status: 404, body: { message: "404 Commit Not Found" } });
    // A commit on no branch needs `ref`.
    expect(await post({ state: "pending" }, { sha: LOOSE })).toEqual({
      status: 404,
      body: { message: "404 References for commit Not Found" },
    });
    expect((await post({ state: "pending", ref: "v1.0" }, { sha: LOOSE })).body).toMatchObject({ ref: "v1.0", sha: LOOSE });
    // A short sha names the commit; the status carries the full one.
    expect((await post({ state: "pending", name: "short" }, { sha: SHA.slice(0, 8) })).body).toMatchObject({ sha: SHA });
    expect(await post({ state: "pending" }, { token: "reporter-tok" })).toEqual({ status: 403, body: { message: "403 Forbidden" } });
    expect(await post({ state: "pending" }, { token: "stranger-tok" })).toEqual({
      status: 404,
      body: { message: "404 Project Not Found" },
    });
    expect(await post({ state: "pending" }, { token: "nope" })).toEqual({ status: 401, body: { message: "401 Unauthorized" } });
  });

  it("pages the list: 20 by default, at most 100, with GitLab's headers", async () => {
    for (let i = 0; i < 25; i++) await post({ state: "success", name: `job-${String(i).padStart(2, "0")}` });
    const first = await list();
    expect(first.body).toHaveLength(20);
    expect(
      Object.fromEntries(
        ["x-page", "x-per-page", "x-next-page", "x-prev-page", "x-total", "x-total-pages"].map((h) => [h, first.res.headers.get(h)]),
      ),
    ).toEqual({
      "x-page": "1",
      "x-per-page": "20",
      "x-next-page": "2",
      "x-prev-page": "",
      "x-total": "25",
      "x-total-pages": "2",
    });
    const link = first.res.headers.get("link") ?? "";
    expect(link).toContain(`<${gl.url}/api/v4/projects/acme%2Fshop/repository/commits/${SHA}/statuses?page=2&per_page=20>; rel="next"`);
    expect(link).toContain('?page=1&per_page=20>; rel="first"');
    expect(link).toContain('?page=2&per_page=20>; rel="last"');
    expect(link).not.toContain('rel="prev"');
    const second = await list("?page=2&name=");
    expect(second.body.map((s) => s.name)).toEqual(["job-20", "job-21", "job-22", "job-23", "job-24"]);
    expect(second.res.headers.get("x-next-page")).toBe("");
    expect(second.res.headers.get("link")).toContain('rel="prev"');
    expect((await list("?per_page=500")).res.headers.get("x-per-page")).toBe("100");
    expect((await list("?per_page=0")).body).toEqual({ error: "per_page has a value not allowed" });
    expect((await list("?page=two")).body).toEqual({ error: "page is invalid" });
  });
});
