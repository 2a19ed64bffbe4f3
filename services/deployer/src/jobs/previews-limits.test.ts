import { Records } from "@hoist/shared";
import { afterEach, describe, expect, it } from "vitest";
import { LocalTarget } from "../adapters/local-target.js";
import { closePreview, enforcePreviewLimits, type PreviewNotice } from "../domain/previews.js";
import { DeployerHarness } from "../testing/harness.js";
import { previewPorts } from "./previews.js";

/**
 * The previews' limits on real Redis, with the clock injected: `max: 2` with three previews queues
 * the least recently updated one's teardown (once, however often the loop runs), which stops it;
 * past `ttlHours` the idle ones are stopped too.
 */
let h: DeployerHarness | undefined;
afterEach(async () => {
  await h?.close();
});

describe("preview limits (Redis, the real close jobs)", () => {
  it("max: 2 with three MRs stops the oldest; an idle one past ttlHours is stopped", async () => {
    h = new DeployerHarness();
    let clock = Date.parse("2026-12-03T10:00:00Z");
    const records = new Records(h.redis, h.prefix, { now: () => clock });
    const app = `prevlim-${process.pid}`;
    await h.createApp(app, { kind: "local", services: { web: { port: 1 } } });
    await h.records.apps.update(app, {
      previews: { enabled: true, from: "production", ttlHours: 1, max: 2, hosts: "mr-{iid}.{app}.{domain}", forks: false },
    });
    const notices: PreviewNotice[] = [];
    const deps = { ...h.deps(), records, domain: "localhost", now: () => clock, notice: async (n: PreviewNotice) => void notices.push(n) };
    const ports = previewPorts(deps, new LocalTarget(deps.docker, { stopTimeoutS: 1, edges: deps.edges, drainS: 1 }));
    for (const iid of [1, 2, 3]) {
      await records.previews.upsert(app, iid, { sha: String(iid).repeat(40), sourceBranch: `f${iid}`, fork: false, status: "building" });
      clock += 60_000;
    }
    const queue = h.queues.queue("previews");
    const closeJobs = async () => (await queue.getJobs(["waiting", "delayed", "prioritized"])).map((j) => j.data);

    expect(await enforcePreviewLimits(ports)).toEqual([`${app}!1: beyond previews.max 2`]);
    expect(await enforcePreviewLimits(ports)).toHaveLength(1);
    const [limit, ...more] = await closeJobs();
    expect(more).toEqual([]);
    expect(limit).toMatchObject({ kind: "close", app, iid: 1, reason: "limit" });
    expect(await closePreview(ports, limit as Parameters<typeof closePreview>[1])).toMatchObject({ kind: "stopped" });
    expect(await records.previews.get(app, 1)).toMatchObject({ status: "stopped" });
    expect(notices.map((n) => [n.event, n.iid])).toEqual([["preview.stopped", 1]]);
    await queue.drain();
    expect(await enforcePreviewLimits(ports)).toEqual([]);

    // An hour and more later, 2 and 3 are idle: both stopped.
    clock += 3_600_000;
    expect((await enforcePreviewLimits(ports)).sort()).toEqual([
      expect.stringMatching(new RegExp(`^${app}!2: idle since`)),
      expect.stringMatching(new RegExp(`^${app}!3: idle since`)),
    ]);
    const idle = await closeJobs();
    expect(idle.map((j) => [j.iid, j.reason]).sort()).toEqual([
      [2, "idle"],
      [3, "idle"],
    ]);
    for (const job of idle) await closePreview(ports, job as Parameters<typeof closePreview>[1]);
    expect((await records.previews.list(app)).map((p) => p.status)).toEqual(["stopped", "stopped", "stopped"]);
  }, 60_000);
});
