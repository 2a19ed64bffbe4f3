import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { z } from "zod";
import { type CommonEnv, loadConfigOrExit } from "../config/env.js";
import { createLogger } from "../logging/logger.js";
import {
  assertNoEviction,
  createRedis,
  RedisAuthError,
  RedisPolicyError,
  type RedisRole,
  redisAuthError,
  waitForRedis,
} from "../redis/connections.js";
import { describeTarget, redisTargetFrom } from "../redis/target.js";
import { startTelemetry } from "../telemetry/telemetry.js";
import { ShutdownRegistry } from "./shutdown.js";

interface ServiceContext<E> {
  config: E;
  log: Logger;
  shutdown: ShutdownRegistry;
}

/** The first lines of every service's main: config (fail fast), logger, telemetry, signal handling. */
export function bootService<S extends z.ZodType<CommonEnv>>(service: string, envSchema: S): ServiceContext<z.infer<S>> {
  const config = loadConfigOrExit(envSchema);
  try {
    redisTargetFrom(config);
  } catch (err) {
    // The Redis variables that only make sense together: exit as for any other bad variable.
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(78);
  }
  const log = createLogger({ service, level: config.HOIST_LOG_LEVEL });
  const shutdown = new ShutdownRegistry(log, config.HOIST_SHUTDOWN_TIMEOUT_MS);
  shutdown.install();
  const telemetry = startTelemetry({ serviceName: `hoist-${service}` });
  shutdown.register("telemetry", () => telemetry.shutdown());
  process.on("unhandledRejection", (err) => {
    log.error({ err: err instanceof Error ? err.message : String(err) }, "unhandled rejection");
  });
  return { config, log, shutdown };
}

/**
 * Connects to Redis for `role`, waits until it answers and refuses to go on unless its
 * maxmemory-policy is noeviction. Exits with a readable message when either fails: 78 (EX_CONFIG)
 * when Redis refuses the credentials in REDIS_URL, 1 otherwise.
 */
export async function connectRedisOrExit(ctx: ServiceContext<CommonEnv>, role: RedisRole, name: string): Promise<Redis> {
  const target = redisTargetFrom(ctx.config);
  const redis = createRedis(target, role, name);
  ctx.shutdown.register(`redis ${name}`, () => redis.quit().catch(() => redis.disconnect()));
  try {
    await waitForRedis(redis, 15_000);
    await assertNoEviction(redis).catch((err: unknown) => {
      throw err instanceof Error && /\bNOPERM\b/.test(err.message) ? redisAuthError(redis, err.message) : err;
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const credentials = err instanceof RedisAuthError;
    ctx.log.fatal({ err: message, redis: describeTarget(target), policy: err instanceof RedisPolicyError, credentials }, "cannot start");
    process.stderr.write(`${message}\n`);
    redis.disconnect();
    process.exit(credentials ? 78 : 1);
  }
  return redis;
}
