import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { createLogger, createRedis, createWorker, JobQueues, type Redis, WorkerSupervisor, waitForRedis } from "@hoist/shared";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort, PrivateRedis } from "../chaos/private-redis.js";
import { asServiceUser } from "../support/redis-acl.js";
import { TcpProxy } from "../support/tcp-proxy.js";

/** A logger whose lines the test can read. */
function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(
    { service: "failover-test", level: "info" },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  );
  return { log, lines };
}

/** `url` with its host and port replaced by the proxy's. */
function through(proxy: TcpProxy, url: string): string {
  const u = new URL(url);
  u.host = `127.0.0.1:${proxy.port}`;
  return u.toString();
}

/**
 * BullMQ's known failure cases around failovers, each reproduced on real redis-servers with the
 * network faults a failover brings (a loopback TCP proxy that moves to the new master or freezes).
 */
describe("Redis failover regressions (BullMQ's tracker)", () => {
  let servers: PrivateRedis[] = [];
  const closers: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    servers = [new PrivateRedis(await freePort()), new PrivateRedis(await freePort())];
    for (const s of servers) await s.start();
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) {
      const t0 = Date.now();
      await Promise.race([c(), new Promise((r) => setTimeout(r, 5_000))]);
      if (Date.now() - t0 > 4_000) console.error("closer hung", c.toString());
    }
  });
  afterAll(async () => {
    for (const s of servers) await s.remove();
  });

  async function jobWorker(opts: {
    proxy: TcpProxy;
    prefix: string;
    stuckMs: number;
    log: ReturnType<typeof capturedLog>["log"];
    /** Jobs whose handler waits for this before it returns. */
    hold?: { ids: string[]; until: Promise<void> };
  }) {
    const admin = servers[0] as PrivateRedis;
    const connection = createRedis(through(opts.proxy, asServiceUser("builder", admin.url)), "worker", "regression-worker");
    closers.push(() => connection.disconnect());
    const taken: string[] = [];
    let onTaken: (id: string) => void = () => {};
    const producerConn = createRedis(admin.url, "producer", "regression-producer");
    closers.push(() => producerConn.disconnect());
    const queues = new JobQueues(producerConn, opts.prefix);
    closers.push(() => queues.close());
    const supervisor = new WorkerSupervisor({
      queue: "build",
      create: () =>
        createWorker({
          queue: "build",
          connection,
          prefix: opts.prefix,
          concurrency: 1,
          log: opts.log,
          handlers: {
            build: async (p) => {
              taken.push(p.buildId);
              onTaken(p.buildId);
              if (opts.hold?.ids.includes(p.buildId)) await opts.hold.until;
            },
          },
        }),
      connection,
      waiting: () => queues.queue("build").getWaitingCount(),
      concurrency: 1,
      stuckMs: opts.stuckMs,
      checkMs: 250,
      log: opts.log,
      closeTimeoutMs: 1_000,
    });
    closers.push(() => supervisor.close());
    await supervisor.current.waitUntilReady();
    const takes = (id: string) =>
      new Promise<number>((resolve) => {
        const t0 = Date.now();
        if (taken.includes(id)) resolve(0);
        onTaken = (got) => got === id && resolve(Date.now() - t0);
      });
    return { supervisor, queues, taken, takes, connection };
  }

  it("bullmq #2466 / #3088 / #4378: a worker whose blocking connection hangs half-open (connection 'ready', no job ever taken) is recreated and takes the waiting job", async () => {
    const proxy = new TcpProxy((servers[0] as PrivateRedis).port);
    await proxy.start();
    closers.push(() => proxy.stop());
    const { log, lines } = capturedLog();
    const w = await jobWorker({ proxy, prefix: `regr-stuck-${randomUUID().slice(0, 8)}`, stuckMs: 2_000, log });
    const first = w.takes("b1");
    await w.queues.enqueue("build", { kind: "build", buildId: "b1" });
    await first;
    // Let the worker enter its blocking wait, then freeze every connection but the shared one
    // (opened first): BullMQ's blocking connection stays "ready" and never answers.
    await new Promise((r) => setTimeout(r, 300));
    expect(proxy.freeze((i) => i > 0)).toBeGreaterThan(0);
    expect(w.connection.status).toBe("ready");
    const second = w.takes("b2");
    await w.queues.enqueue("build", { kind: "build", buildId: "b2" });
    const ms = await second;
    // Taken by the recreated worker within the stuck time and a check, not by the frozen one's
    // socket timeout (20 s) or BullMQ's own recovery.
    expect(ms).toBeLessThan(4_500);
    expect(w.supervisor.state().recreated).toBe(1);
    expect(w.supervisor.state().lastReason).toMatch(/no fetch for \d+ s with 1 job\(s\) waiting/);
    expect(lines.find((l) => l.msg === "worker stuck; recreating")).toMatchObject({ queue: "build", waiting: 1 });
    expect(w.taken).toEqual(["b1", "b2"]);
  }, 30_000);

  it("a worker idle on an empty queue, or busy on all its slots with jobs waiting, is not taken for stuck", async () => {
    const proxy = new TcpProxy((servers[0] as PrivateRedis).port);
    await proxy.start();
    closers.push(() => proxy.stop());
    const { log } = capturedLog();
    let release: () => void = () => {};
    const until = new Promise<void>((r) => {
      release = r;
    });
    closers.push(() => release());
    const w = await jobWorker({
      proxy,
      prefix: `regr-idle-${randomUUID().slice(0, 8)}`,
      stuckMs: 1_000,
      log,
      hold: { ids: ["long"], until },
    });
    // Idle for longer than a blocking wait (at most 5 s): the waits return, the loop moves.
    await new Promise((r) => setTimeout(r, 7_000));
    expect(w.supervisor.state().sinceFetchS).toBeLessThanOrEqual(5);
    expect(await w.supervisor.check()).toBe(false);
    // Its only slot busy on a long job while another waits, for longer than the stuck time.
    const long = w.takes("long");
    await w.queues.enqueue("build", { kind: "build", buildId: "long" });
    await long;
    await w.queues.enqueue("build", { kind: "build", buildId: "next" });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await w.supervisor.check()).toBe(false);
    expect(w.supervisor.state().recreated).toBe(0);
    const next = w.takes("next");
    release();
    await next;
    expect(w.taken).toEqual(["long", "next"]);
  }, 30_000);

  it("bullmq #2964 / #4585: Redis down for longer than a blocking wait (12 s), then back on its port: the worker takes jobs again", async () => {
    // A server of this test's own: stopping a shared one would fail the other cases.
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    closers.push(() => redis.remove());
    const prefix = `regr-outage-${randomUUID().slice(0, 8)}`;
    const { log } = capturedLog();
    const connection = createRedis(asServiceUser("builder", redis.url), "worker", "outage-worker");
    closers.push(() => connection.disconnect());
    const producerConn = createRedis(asServiceUser("api", redis.url), "producer", "outage-producer");
    closers.push(() => producerConn.disconnect());
    const queues = new JobQueues(producerConn, prefix);
    closers.push(() => queues.close());
    const taken: string[] = [];
    let onTaken: (id: string) => void = () => {};
    const supervisor = new WorkerSupervisor({
      queue: "build",
      create: () =>
        createWorker({
          queue: "build",
          connection,
          prefix,
          concurrency: 1,
          log,
          handlers: {
            build: async (p) => {
              taken.push(p.buildId);
              onTaken(p.buildId);
            },
          },
        }),
      connection,
      waiting: () => queues.queue("build").getWaitingCount(),
      concurrency: 1,
      stuckMs: 2_000,
      checkMs: 250,
      log,
      closeTimeoutMs: 1_000,
    });
    closers.push(() => supervisor.close());
    await supervisor.current.waitUntilReady();
    const takes = (id: string) =>
      new Promise<number>((resolve) => {
        const t0 = Date.now();
        onTaken = (got) => got === id && resolve(Date.now() - t0);
      });
    const first = takes("before");
    await queues.enqueue("build", { kind: "build", buildId: "before" });
    await first;

    // The outage: longer than BullMQ's blocking wait plus its watchdog (drainDelay 5 s + 1 s),
    // which is what parked the blocking client in "reconnecting" for good in #4585.
    await redis.stop();
    await new Promise((r) => setTimeout(r, 12_000));
    await redis.start();
    await waitForRedis(producerConn);
    const backAt = Date.now();
    const after = takes("after");
    await queues.enqueue("build", { kind: "build", buildId: "after" });
    await after;
    // Within the bound for a worker once Redis is known again.
    expect(Date.now() - backAt).toBeLessThan(10_000);
    expect(taken).toEqual(["before", "after"]);
    expect(supervisor.current.isRunning()).toBe(true);
  }, 60_000);

  it("bullmq #1928: a master demoted to replica answers READONLY; clients reconnect to the new master, the worker's command is resent there and the producer's fails fast", async () => {
    const [first, second] = servers as [PrivateRedis, PrivateRedis];
    const proxy = new TcpProxy(first.port);
    await proxy.start();
    closers.push(() => proxy.stop());
    const prefix = `regr-ro-${randomUUID().slice(0, 8)}`;
    const worker = createRedis(through(proxy, asServiceUser("builder", first.url)), "worker", "ro-worker");
    const producer = createRedis(through(proxy, asServiceUser("api", first.url)), "producer", "ro-producer");
    closers.push(() => worker.disconnect());
    closers.push(() => producer.disconnect());
    await waitForRedis(producer);
    await worker.set(`${prefix}:builder:k`, "1");
    await producer.set(`${prefix}:k`, "1");
    // The failover, as a virtual IP or DNS name that moves does it: the second server becomes the
    // master, the first its replica, and new connections reach the second.
    const adminA: Redis = createRedis(first.url, "worker");
    const adminB: Redis = createRedis(second.url, "worker");
    closers.push(() => adminA.disconnect());
    closers.push(() => adminB.disconnect());
    const pw = new URL(first.url).password;
    if (pw) await adminA.config("SET", "masterauth", decodeURIComponent(pw));
    await adminB.replicaof("NO", "ONE");
    await adminA.replicaof("127.0.0.1", second.port);
    proxy.upstream = second.port;
    try {
      // Writes on the connections opened to the old master.
      await expect(producer.set(`${prefix}:k`, "2")).rejects.toThrow(/READONLY/);
      expect(await worker.set(`${prefix}:builder:k`, "2")).toBe("OK");
      expect(await adminB.get(`${prefix}:builder:k`)).toBe("2");
      // The producer reconnected too: its next write lands on the new master.
      const deadline = Date.now() + 5_000;
      while (producer.status !== "ready" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await producer.set(`${prefix}:k`, "3")).toBe("OK");
      expect(await adminB.get(`${prefix}:k`)).toBe("3");
    } finally {
      await adminA.replicaof("NO", "ONE");
    }
  }, 30_000);
});
