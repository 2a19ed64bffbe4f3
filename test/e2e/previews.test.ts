import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABELS } from "../../services/deployer/src/adapters/local-target.js";
import { freePort } from "../../services/deployer/src/testing/ports.js";
import { removeLocalApp } from "../support/deploy/cleanup.js";
import { deliverHook, mergeRequestPayload } from "../support/gitlab/deliver.js";
import { dockerFromEnv } from "../support/images/base-images.js";
import { getViaHost } from "../support/net.js";
import { testRegistryTags } from "../support/registry/auth.js";
import { type E2eWorld, startE2eWorld } from "./world.js";

/**
 * Review apps end to end: the four services as processes, the GitLab test server delivering Merge
 * Request Hooks as GitLab documents them, real builds, containers and Caddy. Opening an MR puts
 * its commit live at `http://mr-1.<app>.localhost` (Caddy's hosts listener, Host header); a push to
 * the MR updates the same URL; merging it removes the containers, the route and the environment.
 */
const APP = `prev-${process.pid}`;
const HOST = `mr-1.${APP}.localhost`;
const docker = dockerFromEnv();

let w: E2eWorld;
let lastSeen: unknown;

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET / on the deployer's Caddy hosts listener with the preview host as Host header. */
const viaHost = (host: string) => getViaHost(w.hostsPort, host, { timeoutMs: 2000 });

const containersOf = async (unit: string) => docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${unit}`] } });

function appFiles(text: string): Record<string, string> {
  return {
    "docker-compose.yml": "services:\n  web:\n    build: .\n",
    Dockerfile: [
      "FROM busybox",
      "COPY www /www",
      `CMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p $PORT -h /www & while true; do wait; done"]`,
      "",
    ].join("\n"),
    "www/index.html": `${text}\n`,
    "www/healthz": "ok\n",
  };
}

beforeAll(async () => {
  w = await startE2eWorld();
}, 120_000);

afterAll(async () => {
  console.info(`last preview seen: ${JSON.stringify(lastSeen)}`);
  // What the workers said about previews, for a failure's diagnosis.
  for (const name of ["api", "builder", "deployer"] as const)
    for (const l of w?.services[name].lines.slice(-12) ?? []) console.info(`${name}: ${l.slice(0, 600)}`);
  await removeLocalApp(docker, APP);
  await removeLocalApp(docker, `${APP}@mr-1`);
  await removeLocalApp(docker, `${APP}@mr-2`);
  await w?.close();
}, 60_000);

describe("review apps", () => {
  it("open MR → the preview URL answers the MR commit; a push to it → the same URL answers the new one; a Reporter's MR is refused; merge → containers and route gone", async () => {
    const conn = await w.api("POST", "/gitlab/connections", { url: w.gitlab.url, token: w.gitlabToken });
    expect(conn.status, JSON.stringify(conn.body)).toBe(201);
    const created = await w.api("POST", "/apps", {
      name: APP,
      branch: "main",
      repo: { sshUrl: "git@placeholder:acme/hello.git" },
      target: { kind: "local", services: { web: { port: await freePort(), healthPath: "/healthz", healthTimeout: 10 } } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const linked = await w.api("POST", `/apps/${APP}/gitlab/link`, { connection: conn.body.connection.id, projectId: w.project.id });
    expect(linked.status, JSON.stringify(linked.body)).toBe(200);
    const enabled = await w.api("PATCH", `/apps/${APP}`, { previews: { enabled: true } });
    expect(enabled.status, JSON.stringify(enabled.body)).toBe(200);
    const dev = w.gitlab.state.addUser("dev-author", `glpat-dev-${process.pid}`);
    w.gitlab.state.addMember(w.project, dev, "developer");
    const author = { id: dev.id, username: dev.username };

    const hook = w.gitlab.state.hooks[0];
    if (!hook) throw new Error("no hook");
    w.gitlab.state.addMergeRequest(w.project, 1, { source_branch: "feature", author_id: dev.id });
    const notes = (iid: number) => w.gitlab.state.notesOf(w.project, iid);
    const reviewEnv = () => w.gitlab.state.environments.find((e) => e.name === "review/mr-1");
    const sha1 = w.repo.commit(appFiles("preview one"), "feature: one", "feature");
    const t0 = performance.now();
    const opened = await deliverHook(
      hook,
      "Merge Request Hook",
      mergeRequestPayload({ project: w.project, iid: 1, action: "open", sourceBranch: "feature", sha: sha1, author }),
    );
    expect(opened.status, JSON.stringify(opened.body)).toBe(202);
    expect(
      await until(
        "the preview to answer the MR commit",
        async () => ((await viaHost(HOST)) === "200 preview one" ? true : undefined),
        120_000,
      ),
    ).toBe(true);
    const upMs = Math.round(performance.now() - t0);
    console.info(`preview-up time (MR hook delivered → URL answering the commit): ${upMs} ms`);
    // The preview's record follows its release to live; production got nothing.
    const live = await until(
      "the preview record to be live",
      async () => {
        const p = (await w.api("GET", `/apps/${APP}/previews`)).body?.previews?.[0];
        return p?.status === "live" ? p : undefined;
      },
      15_000,
    );
    expect(live).toMatchObject({ iid: 1, url: `http://${HOST}:${w.hostsPort}`, sha: sha1 });
    // On the MR: one note with the URL, live, at that commit; GitLab's review/mr-1 environment points at it.
    const liveNote = await until(
      "the MR note to say the preview is live",
      async () => {
        const [note, ...more] = notes(1);
        return note &&
          more.length === 0 &&
          note.body.includes(`http://${HOST}:${w.hostsPort}`) &&
          note.body.includes(sha1.slice(0, 8)) &&
          /live/i.test(note.body)
          ? note
          : undefined;
      },
      30_000,
    );
    expect(reviewEnv()).toMatchObject({ external_url: `http://${HOST}:${w.hostsPort}` });
    expect(await containersOf(APP)).toEqual([]);
    expect((await w.api("GET", `/apps/${APP}/releases`)).body.releases).toEqual([]);

    const sha2 = w.repo.commit(appFiles("preview two"), "feature: two", "feature");
    const t1 = performance.now();
    const updated = await deliverHook(
      hook,
      "Merge Request Hook",
      mergeRequestPayload({ project: w.project, iid: 1, action: "update", sourceBranch: "feature", sha: sha2, oldrev: sha1, author }),
    );
    expect(updated.status, JSON.stringify(updated.body)).toBe(202);
    await until(
      "the same URL to answer the new commit",
      async () => ((await viaHost(HOST)) === "200 preview two" ? true : undefined),
      120_000,
    );
    console.info(`preview update time (MR update hook → URL answering the new commit): ${Math.round(performance.now() - t1)} ms`);
    // The same note, edited in place: now at the new commit.
    await until(
      "the MR note to name the new commit",
      async () =>
        notes(1).length === 1 && notes(1)[0]?.body.includes(sha2.slice(0, 8)) && /live/i.test(notes(1)[0]?.body ?? "") ? true : undefined,
      30_000,
    );
    expect(notes(1).map((n) => n.id)).toEqual([liveNote.id]);

    // An MR opened on the hook; it must end refused, with one note on the MR matching `why`, and nothing built.
    const buildsBefore = (await w.api("GET", `/apps/${APP}/builds`)).body.builds.length;
    const refusedWithNote = async (mr: Parameters<typeof mergeRequestPayload>[0], why: RegExp) => {
      const res = await deliverHook(hook, "Merge Request Hook", mergeRequestPayload(mr));
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const refused = await until(
        `MR !${mr.iid} to be refused with a note`,
        async () => {
          const p = (await w.api("GET", `/apps/${APP}/previews`)).body?.previews?.find((x: { iid: number }) => x.iid === mr.iid);
          return p?.status === "refused" && notes(mr.iid).length === 1 && why.test(notes(mr.iid)[0]?.body ?? "") ? p : undefined;
        },
        30_000,
      );
      expect(refused).toMatchObject({ iid: mr.iid, sha: mr.sha });
      expect((await w.api("GET", `/apps/${APP}/builds`)).body.builds).toHaveLength(buildsBefore);
      expect(await containersOf(`${APP}@mr-${mr.iid}`)).toEqual([]);
    };

    // A Reporter's MR is refused by the deployer (GitLab's members/all says 20).
    const reporter = w.gitlab.state.addUser("reporter-author", `glpat-rep-${process.pid}`);
    w.gitlab.state.addMember(w.project, reporter, "reporter");
    w.gitlab.state.addMergeRequest(w.project, 2, { source_branch: "other", author_id: reporter.id });
    const sha3 = w.repo.commit(appFiles("not to be built"), "other: three", "other");
    const byReporter = { id: reporter.id, username: reporter.username };
    await refusedWithNote(
      { project: w.project, iid: 2, action: "open", sourceBranch: "other", sha: sha3, author: byReporter },
      /only level 20/,
    );
    expect(w.services.deployer.lines.some((l) => l.includes('"notice":"preview.refused"') && l.includes("only level 20"))).toBe(true);

    // A fork's MR (source project ≠ target), by a Developer, without previews.forks.
    w.gitlab.state.addMergeRequest(w.project, 3, { source_branch: "forked", author_id: dev.id });
    const shaFork = w.repo.commit(appFiles("from a fork"), "fork: four", "forked");
    const fork = { sourceProjectId: w.project.id + 1000 };
    await refusedWithNote({ project: w.project, iid: 3, action: "open", sourceBranch: "forked", sha: shaFork, author, ...fork }, /fork/i);

    // Both MR commits' images are in Hoist's registry until the teardown.
    const builtTags = (await testRegistryTags(APP)).sort();
    expect(builtTags).toHaveLength(2);
    const running = (await containersOf(`${APP}@mr-1`)).length;
    const t2 = performance.now();
    const merged = await deliverHook(
      hook,
      "Merge Request Hook",
      mergeRequestPayload({ project: w.project, iid: 1, action: "merge", sourceBranch: "feature", sha: sha2, author }),
    );
    expect(merged.status, JSON.stringify(merged.body)).toBe(202);
    const stopped = await until(
      "the preview to be stopped",
      async () => {
        const p = (await w.api("GET", `/apps/${APP}/previews`)).body?.previews?.find((x: { iid: number }) => x.iid === 1);
        lastSeen = p;
        return p?.status === "stopped" ? p : undefined;
      },
      60_000,
    );
    expect(stopped).toMatchObject({ iid: 1, sha: sha2 });
    console.info(`teardown (merge hook → preview stopped, ${running} container(s) removed): ${Math.round(performance.now() - t2)} ms`);
    expect(await containersOf(`${APP}@mr-1`)).toEqual([]);
    expect(await viaHost(HOST)).not.toContain("preview");
    const envs = (await w.api("GET", `/apps/${APP}/environments`)).body.environments.map((e: { name: string }) => e.name);
    expect(envs).not.toContain("mr-1");
    expect((await docker.listNetworks()).map((n) => n.Name)).not.toContain(`hoist-app-${APP}_mr-1`);
    // Its images' tags are gone from the registry (nothing else of the app uses them).
    expect(await testRegistryTags(APP)).toEqual([]);
    expect(w.services.deployer.lines.some((l) => l.includes('"msg":"preview close handled"') && l.includes('"tagsRemoved":2'))).toBe(true);
    // The MR's note says it was stopped, still one note; GitLab's review environment is stopped.
    await until(
      "the MR note to say the preview was stopped",
      async () =>
        notes(1).length === 1 && /stopped/i.test(notes(1)[0]?.body ?? "") && reviewEnv()?.state === "stopped" ? true : undefined,
      30_000,
    );
  }, 300_000);
});
