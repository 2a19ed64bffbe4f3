import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateMasterKey, type Redis } from "@hoist/shared";
import { testRedis } from "@hoist/shared/testing";
import { afterEach, describe, expect, it } from "vitest";
import type { RouteModule } from "../support/gitlab/server.js";
import { statusHistory } from "../support/gitlab/statuses.js";
import { type ServiceProcess, startService } from "../support/processes.js";
import { NotifierWorld, PUBLIC_URL } from "./setup.js";

/** Waits for BullMQ's `event` about `jobId` on the queue's event stream (a blocking XREAD, not a poll). */
async function jobEvent(redis: Redis, prefix: string, jobId: string, event: string, timeoutMs = 20_000): Promise<Record<string, string>> {
  const key = `${prefix}:notify:events`;
  const deadline = Date.now() + timeoutMs;
  let last = "0-0";
  while (Date.now() < deadline) {
    const res = (await redis.xread("BLOCK", 1_000, "STREAMS", key, last)) as [string, [string, string[]][]][] | null;
    for (const [, entries] of res ?? []) {
      for (const [id, flat] of entries) {
        last = id;
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
        if (fields.event === event && fields.jobId === jobId) return fields;
      }
    }
  }
  throw new Error(`no ${event} event for job ${jobId} within ${timeoutMs} ms`);
}

/**
 * Lets GitLab's status module store the next status, then holds its answer back until `release`
 * is called: the commit already shows the status while the notifier has not heard so.
 */
function holdNextStatusAnswer() {
  let release!: () => void;
  let reached!: () => void;
  const gate = { armed: true, released: new Promise<void>((r) => (release = r)), reached: new Promise<void>((r) => (reached = r)) };
  const module: RouteModule = (router) => {
    router.post("/projects/:id/statuses/:sha", (_req, res, next) => {
      if (!gate.armed) return next();
      gate.armed = false;
      const send = res.json.bind(res);
      res.json = (body: unknown) => {
        reached();
        void gate.released.then(() => !res.destroyed && send(body));
        return res;
      };
      next();
    });
  };
  return { module, reached: gate.reached, release };
}

const procs: ServiceProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop("SIGKILL")));
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("notifier process killed between Slack's post and the job's completion", () => {
  it("does not post to Slack twice when another notifier takes the job over", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hoist-notifier-crash-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const w = await new NotifierWorld(loadOrCreateMasterKey(join(dataDir, "master.key"))).start();
    cleanups.push(() => w.close());
    const events = testRedis();
    cleanups.push(() => events.disconnect());

    const app = await w.app();
    const build = await w.build(app.name, { status: "succeeded" });
    const rel = await w.records.releases.create({ app: app.name, buildId: build.id, images: [{ service: "web", tag: "t" }] });
    await w.records.releases.patch(rel.id, { status: "live", liveAt: new Date().toISOString() });

    const env = {
      REDIS_URL: process.env.REDIS_URL as string,
      HOIST_QUEUE_PREFIX: w.prefix,
      HOIST_DATA_DIR: dataDir,
      HOIST_PUBLIC_URL: PUBLIC_URL,
      HOIST_JOB_LOCK_MS: "2000",
    };
    const first = startService("notifier", env);
    procs.push(first);
    await first.waitForLog(/"msg":"ready"/);

    // Slack posts the message, then its answer is held back while the notifier is killed.
    const releaseAnswer = w.slack.hold();
    cleanups.push(releaseAnswer);
    const job = await w.queues.enqueue("notify", { kind: "slack", event: "release.live", buildId: build.id, releaseId: rel.id });
    await w.slack.waitFor((r) => r.method === "POST");
    expect(w.slack.posted).toHaveLength(1);
    first.child.kill("SIGKILL");
    await first.exited;
    const killedAt = Date.now();

    const second = startService("notifier", env);
    procs.push(second);
    const completed = await jobEvent(events, w.prefix, job.id as string, "completed");
    const takeoverMs = Date.now() - killedAt;
    console.log(`notifier: job of a SIGKILLed notifier completed by another after ${takeoverMs} ms (lock 2000 ms)`);

    expect(JSON.parse(completed.returnvalue ?? "null")).toBe(
      "skipped: an earlier attempt died while posting; not re-sent, so Slack never gets it twice",
    );
    expect(w.slack.requests).toHaveLength(1);
    expect(w.slack.posted).toHaveLength(1);
    expect(await second.waitForLog(/an earlier attempt died while posting to Slack/)).toContain('"level":40');
    // The Slack URL is a secret: no log line of either process carries it.
    expect([...first.lines, ...second.lines].join("\n")).not.toContain("/services/");
  });
});

describe("notifier process killed between GitLab storing a status and the job's completion", () => {
  it("the retry's repeat is refused by GitLab as a transition and counts as done: one status, no failure", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hoist-notifier-crash-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const hold = holdNextStatusAnswer();
    cleanups.push(hold.release);
    const w = await new NotifierWorld(loadOrCreateMasterKey(join(dataDir, "master.key"))).start([hold.module]);
    cleanups.push(() => w.close());
    const events = testRedis();
    cleanups.push(() => events.disconnect());
    const app = await w.app({ slack: false });
    const build = await w.build(app.name, { status: "running" });
    const env = {
      REDIS_URL: process.env.REDIS_URL as string,
      HOIST_QUEUE_PREFIX: w.prefix,
      HOIST_DATA_DIR: dataDir,
      HOIST_PUBLIC_URL: PUBLIC_URL,
      HOIST_JOB_LOCK_MS: "2000",
    };
    const first = startService("notifier", env);
    procs.push(first);
    await first.waitForLog(/"msg":"ready"/);
    const job = await w.queues.enqueue("notify", { kind: "gitlab-status", event: "build.running", buildId: build.id });
    await hold.reached;
    first.child.kill("SIGKILL");
    await first.exited;

    const second = startService("notifier", env);
    procs.push(second);
    const completed = await jobEvent(events, w.prefix, job.id as string, "completed");
    // The held answer was the job's first status (`pending`); the retry's repeat of it is refused.
    expect(JSON.parse(completed.returnvalue ?? "null")).toBe("hoist/build=pending already, hoist/build=running");
    expect(w.gitlab.state.requests.filter((r) => r.method === "POST")).toHaveLength(3);
    expect(statusHistory(w.gitlab.state).map((s) => `${s.name}=${s.status}`)).toEqual(["hoist/build=pending", "hoist/build=running"]);
  });
});
