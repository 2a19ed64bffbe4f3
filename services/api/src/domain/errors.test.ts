import { describe, expect, it } from "vitest";
import { isRedisUnavailable } from "./errors.js";

describe("isRedisUnavailable: what the API answers 503 for", () => {
  it("takes a Redis Cluster without a master for the slot (a failover under way) as unavailable, not as a bug", () => {
    // As ioredis' Cluster client reports them while a replica takes over (test/chaos/redis-cluster.test.ts).
    for (const message of [
      "CLUSTERDOWN The cluster is down",
      "TRYAGAIN Multiple keys request during rehashing of slot",
      "Too many Cluster redirections. Last error: Error: Connection is closed.",
      "Failed to refresh slots cache.",
      "Cluster isn't ready and enableOfflineQueue options is false",
      "Connection is closed.",
      "Command timed out",
    ])
      expect(isRedisUnavailable(new Error(message)), message).toBe(true);
    for (const message of ["CROSSSLOT Keys in request don't hash to the same slot", "NOPERM this user has no permissions", "WRONGTYPE"])
      expect(isRedisUnavailable(new Error(message)), message).toBe(false);
  });
});
