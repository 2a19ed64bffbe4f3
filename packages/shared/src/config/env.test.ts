import { describe, expect, it } from "vitest";
import { z } from "zod";
import { redisTargetFrom } from "../redis/target.js";
import { ConfigError, commonEnvSchema, concurrencySchema, parseEnv, workerEnvSchema } from "./env.js";

const schema = commonEnvSchema.extend({ HOIST_CONCURRENCY: concurrencySchema });

describe("env config", () => {
  it("applies defaults", () => {
    const env = parseEnv(schema, {});
    expect(env).toMatchObject({
      REDIS_URL: "redis://127.0.0.1:6379",
      HOIST_QUEUE_PREFIX: "hoist",
      HOIST_LOG_LEVEL: "info",
      HOIST_DATA_DIR: "./.hoist",
      HOIST_CONCURRENCY: 2,
    });
  });

  it("accepts a {braced} prefix for Redis Cluster and treats empty values as unset", () => {
    expect(parseEnv(schema, { HOIST_QUEUE_PREFIX: "{hoist}", HOIST_LOG_LEVEL: "" })).toMatchObject({
      HOIST_QUEUE_PREFIX: "{hoist}",
      HOIST_LOG_LEVEL: "info",
    });
  });

  it("names each bad variable and what it should be, one line each", () => {
    let err: unknown;
    try {
      parseEnv(schema, { REDIS_URL: "localhost:6379", HOIST_CONCURRENCY: "lots", HOIST_QUEUE_PREFIX: "a b" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const lines = (err as Error).message.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines).toContain("config: REDIS_URL is invalid: a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379");
    expect(lines.find((l) => l.startsWith("config: HOIST_CONCURRENCY is invalid:"))).toMatch(/whole number/);
    expect(lines.find((l) => l.startsWith("config: HOIST_QUEUE_PREFIX is invalid:"))).toMatch(/braces/);
  });

  it("says when a required variable is missing", () => {
    const required = z.object({ HOIST_API_TOKEN: z.string({ error: "a long random string" }).min(32) });
    expect(() => parseEnv(required, {})).toThrow("config: HOIST_API_TOKEN is missing: a long random string");
  });

  it("keeps history HOIST_RETENTION_DAYS (30 by default), guards /metrics with HOIST_METRICS_TOKEN and binds workers' health port to loopback", () => {
    expect(parseEnv(workerEnvSchema, {})).toMatchObject({ HOIST_RETENTION_DAYS: 30, HOIST_HEALTH_HOST: "127.0.0.1" });
    expect(parseEnv(workerEnvSchema, {}).HOIST_METRICS_TOKEN).toBeUndefined();
    expect(
      parseEnv(workerEnvSchema, { HOIST_RETENTION_DAYS: "7", HOIST_HEALTH_HOST: "0.0.0.0", HOIST_METRICS_TOKEN: "a".repeat(16) }),
    ).toMatchObject({
      HOIST_RETENTION_DAYS: 7,
      HOIST_HEALTH_HOST: "0.0.0.0",
      HOIST_METRICS_TOKEN: "a".repeat(16),
    });
    expect(() => parseEnv(workerEnvSchema, { HOIST_RETENTION_DAYS: "0" })).toThrow(
      "config: HOIST_RETENTION_DAYS is invalid: more than 0 days",
    );
    expect(() => parseEnv(workerEnvSchema, { HOIST_RETENTION_DAYS: "soon" })).toThrow(
      "config: HOIST_RETENTION_DAYS is invalid: a number of days, e.g. 30",
    );
    expect(() => parseEnv(workerEnvSchema, { HOIST_METRICS_TOKEN: "short" })).toThrow(
      "config: HOIST_METRICS_TOKEN is invalid: at least 16 characters (e.g. openssl rand -hex 24)",
    );
  });

  it("gives every worker the audit log's retention, HOIST_AUDIT_RETENTION_DAYS (365 by default)", () => {
    expect(parseEnv(workerEnvSchema, {}).HOIST_AUDIT_RETENTION_DAYS).toBe(365);
    expect(parseEnv(workerEnvSchema, { HOIST_AUDIT_RETENTION_DAYS: "30" }).HOIST_AUDIT_RETENTION_DAYS).toBe(30);
    expect(() => parseEnv(workerEnvSchema, { HOIST_AUDIT_RETENTION_DAYS: "0" })).toThrow(
      "config: HOIST_AUDIT_RETENTION_DAYS is invalid: at least 1 day",
    );
    expect(() => parseEnv(workerEnvSchema, { HOIST_AUDIT_RETENTION_DAYS: "a year" })).toThrow(
      "config: HOIST_AUDIT_RETENTION_DAYS is invalid: a whole number of days",
    );
  });

  it("connects through Sentinel with REDIS_SENTINELS and REDIS_SENTINEL_NAME, REDIS_URL giving the user", () => {
    const env = parseEnv(commonEnvSchema, {
      REDIS_URL: "redis://hoist-api:pw@ignored:1/2",
      REDIS_SENTINELS: "10.0.0.1:26379, sentinel-2.example:26380,[::1]:26381",
      REDIS_SENTINEL_NAME: "hoist",
      REDIS_SENTINEL_PASSWORD: "sentinel-secret",
    });
    expect(redisTargetFrom(env)).toEqual({
      kind: "sentinel",
      url: "redis://hoist-api:pw@ignored:1/2",
      sentinels: [
        { host: "10.0.0.1", port: 26379 },
        { host: "sentinel-2.example", port: 26380 },
        { host: "::1", port: 26381 },
      ],
      name: "hoist",
      sentinelPassword: "sentinel-secret",
    });
    expect(redisTargetFrom(parseEnv(commonEnvSchema, {}))).toEqual({ kind: "url", url: "redis://127.0.0.1:6379" });
  });

  it("says which Sentinel entry is not host:port, and which variable the others need", () => {
    expect(() => parseEnv(commonEnvSchema, { REDIS_SENTINELS: "10.0.0.1:26379,10.0.0.2" })).toThrow(
      'config: REDIS_SENTINELS is invalid: "10.0.0.2" is not host:port; a comma-separated list of host:port',
    );
    expect(() => parseEnv(commonEnvSchema, { REDIS_SENTINELS: "10.0.0.1:99999" })).toThrow(/"10.0.0.1:99999" is not host:port/);
    expect(() => parseEnv(commonEnvSchema, { REDIS_SENTINEL_NAME: "my master" })).toThrow(
      "config: REDIS_SENTINEL_NAME is invalid: the master name the Sentinels monitor",
    );
    const env = (vars: Record<string, string>) => redisTargetFrom(parseEnv(commonEnvSchema, vars));
    expect(() => env({ REDIS_SENTINELS: "10.0.0.1:26379" })).toThrow(
      /^config: REDIS_SENTINEL_NAME is missing: the name the Sentinels monitor/,
    );
    expect(() => env({ REDIS_SENTINEL_NAME: "hoist" })).toThrow(/^config: REDIS_SENTINELS is missing: REDIS_SENTINEL_NAME is set/);
    expect(() => env({ REDIS_SENTINEL_PASSWORD: "x" })).toThrow(/^config: REDIS_SENTINELS is missing: REDIS_SENTINEL_PASSWORD is set/);
  });

  it("connects to a Redis Cluster with REDIS_CLUSTER_NODES, REDIS_URL giving the user; a {tagged} prefix; never with Sentinel too", () => {
    const env = (vars: Record<string, string>) => redisTargetFrom(parseEnv(commonEnvSchema, vars));
    expect(
      env({
        REDIS_URL: "rediss://hoist-api:pw@ignored:1",
        REDIS_CLUSTER_NODES: "10.0.0.1:6379, [::1]:6380",
        HOIST_QUEUE_PREFIX: "{hoist}",
      }),
    ).toEqual({
      kind: "cluster",
      url: "rediss://hoist-api:pw@ignored:1",
      nodes: [
        { host: "10.0.0.1", port: 6379 },
        { host: "::1", port: 6380 },
      ],
    });
    expect(() => parseEnv(commonEnvSchema, { REDIS_CLUSTER_NODES: "10.0.0.1" })).toThrow(
      'config: REDIS_CLUSTER_NODES is invalid: "10.0.0.1" is not host:port',
    );
    expect(() =>
      env({
        REDIS_CLUSTER_NODES: "10.0.0.1:6379",
        REDIS_SENTINELS: "10.0.0.1:26379",
        REDIS_SENTINEL_NAME: "hoist",
        HOIST_QUEUE_PREFIX: "{hoist}",
      }),
    ).toThrow(
      "config: REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: Hoist connects either to a Redis Cluster or to a master through Sentinel; unset one of them",
    );
    // The default prefix is no hash tag: BullMQ's and the records' scripts would span slots (CROSSSLOT).
    expect(() => env({ REDIS_CLUSTER_NODES: "10.0.0.1:6379" })).toThrow(
      /^config: HOIST_QUEUE_PREFIX is invalid: "hoist" on a Redis Cluster must be one hash tag in braces, e.g. \{hoist\}/,
    );
    expect(() =>
      env({ REDIS_CLUSTER_NODES: "10.0.0.1:6379", HOIST_QUEUE_PREFIX: "{hoist}", REDIS_URL: "redis://127.0.0.1:6379/2" }),
    ).toThrow("config: REDIS_URL is invalid: a Redis Cluster has only database 0");
  });

  it("closes and recreates a worker stuck for HOIST_WORKER_STUCK_S (60 by default, 10 at least)", () => {
    expect(parseEnv(workerEnvSchema, {}).HOIST_WORKER_STUCK_S).toBe(60);
    expect(parseEnv(workerEnvSchema, { HOIST_WORKER_STUCK_S: "15" }).HOIST_WORKER_STUCK_S).toBe(15);
    expect(() => parseEnv(workerEnvSchema, { HOIST_WORKER_STUCK_S: "5" })).toThrow(
      "config: HOIST_WORKER_STUCK_S is invalid: at least 10 seconds (a blocking wait lasts up to 5 s)",
    );
  });
});
