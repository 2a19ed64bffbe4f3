import type { App, Build, Release } from "@hoist/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { previewNoteMarker } from "../../services/notifier/src/domain/preview-note.js";
import type { RouteModule } from "../support/gitlab/server.js";
import { NotifierWorld } from "./setup.js";

const MR_SHA = "4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f";
const URL = "http://mr-42.shop.localhost";
const fast = { backoff: { type: "exponential", delay: 100, jitter: 0.5 } };

/** GitLab taking its time to create a note, so two jobs without the note lock would both find none and both post one. */
const slowNoteCreate: RouteModule = (router) => {
  router.post("/projects/:id/merge_requests/:iid/notes", (_req, _res, next) => {
    setTimeout(next, 300);
  });
};

let w: NotifierWorld;
let app: App;
let build: Build;
beforeEach(async () => {
  w = await new NotifierWorld().start([slowNoteCreate]);
  const project = { id: w.projectId };
  w.gitlab.state.addCommit(project, MR_SHA, ["feature-42"]);
  w.gitlab.state.addMergeRequest(project, 42, { source_branch: "feature-42" });
  w.gitlab.state.addMergeRequest(project, 43);
  app = await w.app();
  // The preview environment as the previews worker makes it: the preview host, no auto-deploys.
  await w.records.environments.create(app, {
    name: "mr-42",
    target: { kind: "local", services: { web: { port: 3000, hosts: ["mr-42.shop.localhost"] } } },
    auto: false,
  });
  // Its record, with the URL the deployer worked out (Caddy's host listener on :80 here: no port in it).
  await w.records.previews.upsert(app.name, 42, { status: "building", sha: MR_SHA, sourceBranch: "feature-42", fork: false, url: URL });
  build = await w.build(app.name, {
    ref: "feature-42",
    sha: MR_SHA,
    status: "succeeded",
    commit: { title: "Gift cards\n\nbody", author: "Ada" },
  });
});
afterEach(async () => {
  await w.close();
});

async function previewRelease(status: "deploying" | "live" | "failed", over: Partial<Release> = {}): Promise<Release> {
  const r = await w.records.releases.create({
    app: app.name,
    environment: "mr-42",
    buildId: build.id,
    images: [{ service: "web", tag: "t" }],
  });
  const now = new Date().toISOString();
  await w.records.releases.patch(r.id, { status, deployingAt: now, ...(status === "live" ? { liveAt: now } : {}), ...over });
  return w.records.releases.require(r.id);
}

async function gitlabEvent(event: "release.deploying" | "release.live" | "release.failed", releaseId: string, tag = "") {
  const { result, error } = await w.run(
    { kind: "gitlab-status", event, buildId: build.id, releaseId, app: app.name, environment: "mr-42" },
    { jobId: `gs.${event}.${releaseId}${tag}`, ...fast },
  );
  expect(error).toBeUndefined();
  return result as string;
}

const notes = (iid = 42) => w.gitlab.state.notesOf({ id: w.projectId }, iid);

describe("a preview's release events on its merge request", () => {
  it("the first event makes one note with the URL, status and commit; the next edits it; the deployment is on review/mr-42", async () => {
    const release = await previewRelease("deploying");
    expect(await gitlabEvent("release.deploying", release.id)).toContain("note !42 created");
    expect(notes()).toHaveLength(1);
    const first = notes()[0]!;
    expect(first.body.startsWith(previewNoteMarker("shop"))).toBe(true);
    expect(first.body).toContain(`<${URL}>`);
    expect(first.body).toContain("deploying");
    expect(first.body).toContain("`4c5d6e7f` Gift cards");

    await w.records.releases.patch(release.id, { status: "live", liveAt: new Date(Date.now() + 1).toISOString() });
    expect(await gitlabEvent("release.live", release.id)).toContain("note !42 edited");
    expect(notes()).toEqual([expect.objectContaining({ id: first.id })]);
    expect(notes()[0]?.body).toContain("✅ live");
    // A late retry of the deploying event is older news than the note: the note stays live.
    expect(await gitlabEvent("release.deploying", release.id, ".retry")).toContain("note !42 stale");
    expect(notes()[0]?.body).toContain("✅ live");

    // GitLab's Environments page: the rollout on review/mr-42 (not mr-42), opening on the preview's URL.
    expect(w.gitlab.state.environments.map((e) => [e.name, e.external_url, e.state])).toEqual([["review/mr-42", URL, "available"]]);
    expect(w.gitlab.state.deployments.map((d) => [d.status, d.sha, d.ref])).toEqual([["success", MR_SHA, "feature-42"]]);
  });

  it("says on Slack that the preview for !42 is live at its URL", async () => {
    const release = await previewRelease("live");
    const { error } = await w.run({ kind: "slack", event: "release.live", buildId: build.id, releaseId: release.id, app: app.name });
    expect(error).toBeUndefined();
    expect(w.slack.refused).toEqual([]);
    expect(w.slack.posted.map((m) => m.text)).toEqual([`shop: preview for !42 is live at ${URL}`]);
  });

  it("concurrent events make one note; a lost note id is found again by its marker", async () => {
    const a = await previewRelease("deploying");
    const b = await previewRelease("live");
    const results = await Promise.all([gitlabEvent("release.deploying", a.id), gitlabEvent("release.live", b.id)]);
    expect(results.join(" ")).toContain("created");
    expect(notes()).toHaveLength(1);
    await w.redis.del(w.records.keys.previewNote(app.name, 42));
    await w.records.releases.patch(b.id, { liveAt: new Date(Date.now() + 5).toISOString() });
    expect(await gitlabEvent("release.live", b.id, ".again")).toContain("note !42 edited");
    expect(notes()).toHaveLength(1);
  });
  it("a newer commit of the MR that fails to build: the note says so and why, keeping the URL of the commit still shown", async () => {
    const release = await previewRelease("live");
    await gitlabEvent("release.live", release.id);
    const sha2 = "5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80";
    w.gitlab.state.addCommit({ id: w.projectId }, sha2, ["feature-42"]);
    const failed = await w.build(app.name, {
      ref: "refs/merge-requests/42/head",
      sha: sha2,
      status: "failed",
      reason: "step 3/5 RUN npm test exited with 1",
      preview: { iid: 42 },
      commit: { title: "Break the gift cards" },
      finishedAt: new Date(Date.now() + 10).toISOString(),
    });
    const { result, error } = await w.run(
      { kind: "gitlab-status", event: "build.failed", buildId: failed.id, app: app.name },
      { jobId: `gs.build.failed.${failed.id}`, ...fast },
    );
    expect(error).toBeUndefined();
    expect(result).toContain("note !42 edited");
    const [note, ...more] = notes();
    expect(more).toEqual([]);
    expect(note?.body).toContain("❌ build failed: step 3/5 RUN npm test exited with 1");
    expect(note?.body).toContain(`<${URL}> (still the last commit that built)`);
    expect(note?.body).toContain("`5d6e7f80` Break the gift cards");
    expect(note?.body).not.toContain("✅ live");
  });

  it("a note a person deleted is posted again, once", async () => {
    const release = await previewRelease("live");
    await gitlabEvent("release.live", release.id);
    w.gitlab.state.notes = [];
    await w.records.releases.patch(release.id, { liveAt: new Date(Date.now() + 5).toISOString() });
    expect(await gitlabEvent("release.live", release.id, ".after-delete")).toContain("note !42 created");
    expect(notes()).toHaveLength(1);
  });
});

describe("preview notices (gitlab-mr jobs)", () => {
  it("stopped: edits the note to say so and why, and stops review/mr-42 once", async () => {
    const release = await previewRelease("live");
    await gitlabEvent("release.live", release.id);
    const id = notes()[0]?.id;
    const notice = { kind: "gitlab-mr", event: "preview.stopped", app: app.name, iid: 42, reason: "merged", id: "d-1" } as const;
    const first = await w.run(notice, fast);
    expect(first.error).toBeUndefined();
    expect(first.result).toBe("note edited, environment review/mr-42 stopped");
    expect(notes()).toEqual([expect.objectContaining({ id })]);
    expect(notes()[0]?.body).toContain(`The preview at <${URL}> was stopped: the merge request was merged.`);
    expect(w.gitlab.state.environments.find((e) => e.name === "review/mr-42")?.state).toBe("stopped");
    // The same notice again (a retry): the same note, the environment stopped already.
    const again = await w.run(notice, { jobId: "stopped-again", ...fast });
    expect(again.result).toBe("note edited, environment review/mr-42 already");
    expect(notes()).toHaveLength(1);
    const stops = w.gitlab.state.requests.filter((r) => r.method === "POST" && r.path.endsWith("/stop"));
    expect(stops).toHaveLength(1);
  });

  it("stopped with no GitLab environment: nothing to stop; refused: a note saying why", async () => {
    const stopped = await w.run({ kind: "gitlab-mr", event: "preview.stopped", app: app.name, iid: 43, reason: "idle", id: "s-1" }, fast);
    expect(stopped.result).toBe("note created, environment review/mr-43 absent");
    const refused = await w.run(
      {
        kind: "gitlab-mr",
        event: "preview.refused",
        app: app.name,
        iid: 43,
        reason: "its author has less than Developer access",
        id: "r-1",
      },
      fast,
    );
    expect(refused.error).toBeUndefined();
    expect(refused.result).toBe("note edited");
    expect(notes(43)).toHaveLength(1);
    expect(notes(43)[0]?.body).toContain("No preview was built for this merge request: its author has less than Developer access.");
  });

  it("a refused merge request gets one note saying why, also when the notice is sent twice", async () => {
    const notice = {
      kind: "gitlab-mr",
      event: "preview.refused",
      app: app.name,
      iid: 42,
      reason: "merge requests from forks are not built",
      id: "r-2",
    } as const;
    expect((await w.run(notice, fast)).result).toBe("note created");
    expect((await w.run(notice, { jobId: "refused-again", ...fast })).result).toBe("note edited");
    expect(notes()).toEqual([expect.objectContaining({ body: expect.stringContaining("merge requests from forks are not built") })]);
  });
});
