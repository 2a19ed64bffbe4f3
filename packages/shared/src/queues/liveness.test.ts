import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../logging/logger.js";
import { type TrackedWorker, WorkerSupervisor } from "./liveness.js";

/** The parts of a worker the supervisor reads, with a loop the test moves by hand. */
function fakeWorker(lastFetchAt: number) {
  return {
    lastFetchAt,
    inFlight: 0,
    closed: false,
    isRunning: () => true,
    isPaused: () => false,
    close: async function (this: { closed: boolean }) {
      this.closed = true;
    },
  };
}

function supervised(waiting: () => number) {
  const made: ReturnType<typeof fakeWorker>[] = [];
  const lines: string[] = [];
  const log = createLogger(
    { service: "liveness-test", level: "info" },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    }),
  );
  const supervisor = new WorkerSupervisor({
    queue: "build",
    create: () => {
      const w = fakeWorker(Date.now() - 10_000);
      made.push(w);
      return w as unknown as TrackedWorker;
    },
    connection: { status: "ready" },
    waiting: async () => waiting(),
    concurrency: 1,
    stuckMs: 1_000,
    checkMs: 3_600_000,
    log,
  });
  return { supervisor, made, lines };
}

describe("WorkerSupervisor", () => {
  it("a look that falls between a job's arrival and the fetch it wakes is not a stuck worker", async () => {
    const { supervisor, made } = supervised(() => 1);
    expect(await supervisor.check()).toBe(false);
    // The loop moves (the wait returned with the new job) before the next look.
    (made[0] as ReturnType<typeof fakeWorker>).lastFetchAt = Date.now();
    expect(await supervisor.check()).toBe(false);
    expect(supervisor.state().recreated).toBe(0);
    expect(made).toHaveLength(1);
    await supervisor.close();
  });

  it("two looks in a row with the loop unmoved, a free slot and jobs waiting: recreated, and said", async () => {
    const { supervisor, made, lines } = supervised(() => 2);
    expect(await supervisor.check()).toBe(false);
    expect(await supervisor.check()).toBe(true);
    expect(made).toHaveLength(2);
    expect(made[0]?.closed).toBe(true);
    expect(supervisor.state()).toMatchObject({
      recreated: 1,
      lastReason: expect.stringMatching(/^no fetch for 10 s with 2 job\(s\) waiting/),
    });
    expect(lines.some((l) => l.includes("worker stuck; recreating"))).toBe(true);
    // The new worker is judged afresh: its first look is only a suspicion.
    expect(await supervisor.check()).toBe(false);
    await supervisor.close();
  });

  it("no job waiting, or every slot busy: never stuck however long the loop is still", async () => {
    let waiting = 0;
    const { supervisor, made } = supervised(() => waiting);
    for (let i = 0; i < 3; i++) expect(await supervisor.check()).toBe(false);
    waiting = 3;
    (made[0] as ReturnType<typeof fakeWorker>).inFlight = 1;
    for (let i = 0; i < 3; i++) expect(await supervisor.check()).toBe(false);
    expect(supervisor.state().recreated).toBe(0);
    await supervisor.close();
  });
});
