import { createLogger, FailoverWatch, redisTargetFrom } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SENTINEL_NAME, SENTINEL_PASSWORD, SentinelSet } from "../support/redis-sentinel.js";

/** FailoverWatch on real redis-sentinel processes: a failover is "in progress" from its start until +switch-master. */
describe("FailoverWatch (three real Sentinels)", () => {
  const set = new SentinelSet({ replicas: 1, downAfterMs: 1_000 });
  let watch: FailoverWatch;
  beforeAll(async () => {
    await set.start();
    const target = redisTargetFrom({
      REDIS_URL: set.adminUrl,
      REDIS_SENTINELS: set.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })),
      REDIS_SENTINEL_NAME: SENTINEL_NAME,
      REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
    });
    if (target.kind !== "sentinel") throw new Error("expected a Sentinel target");
    watch = new FailoverWatch(target, createLogger({ service: "watch-test", level: "silent" }));
    // Subscribed to every Sentinel before the test acts.
    await new Promise((r) => setTimeout(r, 500));
  }, 60_000);
  afterAll(async () => {
    watch?.close();
    await set.remove();
  });

  it("is in progress from SENTINEL FAILOVER's +try-failover until +switch-master, then counts one failover", async () => {
    expect(watch.inProgress()).toBe(false);
    const started = set.next(/\+try-failover/);
    const switched = set.nextSwitch();
    await set.failover();
    await started;
    // The Sentinel's event reaches the watch over its own connection: wait for it, not a fixed time.
    const deadline = Date.now() + 2_000;
    while (!watch.inProgress() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(watch.inProgress()).toBe(true);
    expect(watch.epoch()).toBe(1);
    await switched;
    const after = Date.now() + 2_000;
    while (watch.inProgress() && Date.now() < after) await new Promise((r) => setTimeout(r, 5));
    expect(watch.inProgress()).toBe(false);
  }, 60_000);

  it("is in progress while the master is frozen (+sdown), until the new master is known", async () => {
    const master = await set.masterPort();
    const switched = set.nextSwitch();
    set.signal(master, "SIGSTOP");
    try {
      await set.next(/\+sdown master/);
      const deadline = Date.now() + 2_000;
      while (!watch.inProgress() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(watch.inProgress()).toBe(true);
      await switched;
      const after = Date.now() + 2_000;
      while (watch.inProgress() && Date.now() < after) await new Promise((r) => setTimeout(r, 5));
      expect(watch.inProgress()).toBe(false);
      expect(watch.epoch()).toBe(2);
    } finally {
      set.signal(master, "SIGCONT");
    }
  }, 60_000);
});
