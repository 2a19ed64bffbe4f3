import { GitbeakerRequestError, Gitlab } from "@gitbeaker/rest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deploymentRoutes } from "./deployments.js";
import { mergeRequestNoteRoutes } from "./merge-request-notes.js";
import { type GitlabTestServer, startGitlabServer } from "./server.js";
import type { GitlabProject } from "./state.js";

let gl: GitlabTestServer;
let project: GitlabProject;
const client = (token = "tok") => new Gitlab({ host: gl.url, token });

beforeEach(async () => {
  gl = await startGitlabServer([mergeRequestNoteRoutes, deploymentRoutes]);
  const bot = gl.state.addUser("hoist-bot", "tok");
  const other = gl.state.addUser("reviewer", "other-tok");
  const guest = gl.state.addUser("guest", "guest-tok");
  gl.state.addUser("stranger", "stranger-tok");
  project = gl.state.addProject({ path_with_namespace: "acme/shop", default_branch: "main", ssh_url_to_repo: "x" }, gl.url);
  gl.state.addMember(project, bot, "developer");
  gl.state.addMember(project, other, "developer");
  gl.state.addMember(project, guest, "guest");
  gl.state.addMergeRequest(project, 42);
});
afterEach(() => gl.close());

/** The HTTP status and GitLab's answer of a request gitbeaker rejected. */
async function refusal(p: Promise<unknown>): Promise<{ status: number; body: unknown }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GitbeakerRequestError)) throw new Error(`expected a refused request, got ${String(err)}`);
  const response = err.cause?.response as Response | undefined;
  return { status: response?.status ?? 0, body: err.cause?.description };
}

describe("GitLab test server: merge request notes", () => {
  it("creates a note (201) and edits it in place; the list shows one note", async () => {
    const api = client();
    const created = await api.MergeRequestNotes.create(project.id, 42, "Preview: building");
    expect(created).toMatchObject({ body: "Preview: building", author: { username: "hoist-bot" }, noteable_iid: 42, system: false });
    expect(typeof created.id).toBe("number");
    expect(typeof created.created_at).toBe("string");
    const edited = await api.MergeRequestNotes.edit(project.id, 42, created.id, { body: "Preview: live" });
    expect(edited).toMatchObject({ id: created.id, body: "Preview: live" });
    const all = await api.MergeRequestNotes.all(project.id, 42);
    expect(all).toEqual([expect.objectContaining({ id: created.id, body: "Preview: live" })]);
    expect(gl.state.notesOf(project, 42)).toHaveLength(1);
  });

  it("lists page by page, newest first by default, oldest first with sort=asc", async () => {
    const api = client();
    for (let i = 0; i < 25; i++) await api.MergeRequestNotes.create(project.id, 42, `note ${i}`);
    const first = await api.MergeRequestNotes.all(project.id, 42, { perPage: 20, page: 1, showExpanded: true, maxPages: 1 });
    expect(first.data).toHaveLength(20);
    expect(first.data[0]?.body).toBe("note 24");
    expect(first.paginationInfo).toMatchObject({ total: 25, totalPages: 2, next: 2 });
    expect(await api.MergeRequestNotes.all(project.id, 42)).toHaveLength(25);
    const asc = await api.MergeRequestNotes.all(project.id, 42, { sort: "asc", perPage: 5, maxPages: 1 });
    expect(asc.map((n) => n.body)).toEqual(["note 0", "note 1", "note 2", "note 3", "note 4"]);
    const bad = await fetch(`${gl.url}/api/v4/projects/${project.id}/merge_requests/42/notes?sort=up`, {
      headers: { "private-token": "tok" },
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: "sort does not have a valid value" });
  });

  it("is strict: a bad token 401, no member 404, a guest 403, an unknown MR or note 404, a missing body 400, another's note 403", async () => {
    const api = client();
    expect((await refusal(client("nope").MergeRequestNotes.all(project.id, 42))).status).toBe(401);
    expect(await refusal(client("stranger-tok").MergeRequestNotes.create(project.id, 42, "x"))).toMatchObject({
      status: 404,
      body: "404 Project Not Found",
    });
    expect((await refusal(client("guest-tok").MergeRequestNotes.create(project.id, 42, "x"))).status).toBe(403);
    expect(await refusal(api.MergeRequestNotes.create(project.id, 7, "x"))).toMatchObject({
      status: 404,
      body: "404 Merge Request Not Found",
    });
    expect(await refusal(api.MergeRequestNotes.all(project.id, 7))).toMatchObject({ status: 404 });
    expect(await refusal(api.MergeRequestNotes.create(project.id, 42, ""))).toMatchObject({ status: 400, body: "body is missing" });
    expect(await refusal(api.MergeRequestNotes.edit(project.id, 42, 999, { body: "x" }))).toMatchObject({
      status: 404,
      body: "404 Note Not Found",
    });
    const theirs = await client("other-tok").MergeRequestNotes.create(project.id, 42, "LGTM");
    expect(await refusal(api.MergeRequestNotes.edit(project.id, 42, theirs.id, { body: "mine now" }))).toMatchObject({
      status: 403,
    });
    expect(await refusal(api.MergeRequestNotes.edit(project.id, 7, theirs.id, { body: "x" }))).toMatchObject({ status: 404 });
    // gitbeaker always sends a body; GitLab wants one of body or confidential.
    const noBody = await fetch(`${gl.url}/api/v4/projects/${project.id}/merge_requests/42/notes/${theirs.id}`, {
      method: "PUT",
      headers: { "private-token": "other-tok" },
    });
    expect(noBody.status).toBe(400);
    expect(gl.state.notesOf(project, 42)).toEqual([expect.objectContaining({ body: "LGTM" })]);
  });
});

describe("GitLab test server: stopping an environment", () => {
  it("stops an environment (state stopped, a repeat answers the same); a new deployment starts it again; 404 unknown", async () => {
    const api = client();
    const env = await api.Environments.create(project.id, "review/mr-42", { externalUrl: "http://mr-42.shop.localhost" });
    const stopped = await api.Environments.stop(project.id, env.id);
    expect(stopped).toMatchObject({ id: env.id, name: "review/mr-42", state: "stopped" });
    expect(await api.Environments.stop(project.id, env.id)).toMatchObject({ state: "stopped" });
    expect(await api.Environments.all(project.id, { name: "review/mr-42", states: "stopped" })).toHaveLength(1);
    expect(await api.Environments.all(project.id, { name: "review/mr-42", states: "available" })).toHaveLength(0);
    await api.Deployments.create(project.id, "review/mr-42", "a".repeat(40), "feature", false, { status: "running" });
    expect(gl.state.environments.find((e) => e.id === env.id)?.state).toBe("available");
    expect(await refusal(api.Environments.stop(project.id, 999))).toMatchObject({ status: 404, body: "404 Environment Not Found" });
    expect((await refusal(client("guest-tok").Environments.stop(project.id, env.id))).status).toBe(403);
    expect((await refusal(client("nope").Environments.stop(project.id, env.id))).status).toBe(401);
  });
});
