import {
  baseReposEnvSchema,
  concurrencySchema,
  localReposEnvSchema,
  registrySecretEnvSchema,
  secretsEnvSchema,
  workerEnvSchema,
} from "@hoist/shared";
import { z } from "zod";
import { type BuildCaps, defaultBuildCaps } from "./domain/build-limits.js";

const ms = (what: string) =>
  z.coerce
    .number({ error: `a whole number of milliseconds (${what})` })
    .int()
    .min(1000)
    .max(3_600_000);

export const envSchema = workerEnvSchema.extend(secretsEnvSchema.shape).extend({
  ...localReposEnvSchema.shape,
  HOIST_CONCURRENCY: concurrencySchema,
  /** Engine API of podman or Docker; dockerode's default socket when unset. */
  DOCKER_HOST: z
    .string()
    .regex(/^(unix|tcp|http|https):\/\//, "unix:///path/to/docker.sock or tcp://host:port")
    .optional(),
  HOIST_REGISTRY: z
    .string()
    .regex(
      /^[A-Za-z0-9.-]+(:\d{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/,
      "host[:port][/namespace] of an image registry, or an ECR URI <account>.dkr.ecr.<region>.amazonaws.com",
    )
    .default("127.0.0.1:5000"),
  /** With HOIST_REGISTRY_SECRET(_FILE) each app pushes as its own derived user instead of these. */
  HOIST_REGISTRY_USERNAME: z.string().min(1).optional(),
  HOIST_REGISTRY_PASSWORD: z.string().min(1).optional(),
  ...registrySecretEnvSchema.shape,
  /** The registry's repositories every app's Dockerfile may name (the token service's list). */
  ...baseReposEnvSchema.shape,
  /** Push over plain HTTP / without verifying TLS (podman's tlsVerify=false). */
  HOIST_REGISTRY_INSECURE: z
    .enum(["true", "false", "1", "0"], { error: "true or false" })
    .default("false")
    .transform((v) => v === "true" || v === "1"),
  HOIST_BUILD_LOG_MAX_LINES: z.coerce.number({ error: "a whole number of lines" }).int().min(100).max(1_000_000).default(10_000),
  /** Longest build log line kept, in bytes; the rest is cut with a marker. */
  HOIST_LOG_LINE_MAX: z.coerce
    .number({ error: "a whole number of bytes" })
    .int("a whole number of bytes")
    .min(256, "at least 256 bytes")
    .max(1_048_576, "at most 1048576 bytes (1 MiB)")
    .default(4096),
  /** Bytes of lines one build log may take; past them a last line says the log was truncated. */
  HOIST_LOG_MAX_BYTES: z.coerce
    .number({ error: "a whole number of bytes" })
    .int("a whole number of bytes")
    .min(65_536, "at least 65536 bytes (64 KiB)")
    .max(1_073_741_824, "at most 1073741824 bytes (1 GiB)")
    .default(8 * 1024 * 1024),
  /** Temp dirs of running builds; defaults to $HOIST_DATA_DIR/builds. */
  HOIST_WORK_DIR: z.string().min(1).optional(),
  /** BullMQ lock duration and stalled-job check: how soon another worker takes over a dead worker's build. */
  HOIST_BUILD_LOCK_MS: ms("job lock duration").default(30_000),
  HOIST_BUILD_STALLED_INTERVAL_MS: ms("stalled-job check interval").default(30_000),
  // Every build's limits: the default for apps whose `build` settings leave one out, and the most any app gets.
  HOIST_BUILD_MEMORY_MB: z.coerce
    .number({ error: "a whole number of MiB" })
    .int("a whole number of MiB")
    .min(64, "at least 64 MiB")
    .max(1024 * 1024, "at most 1048576 MiB (1 TiB)")
    .default(defaultBuildCaps.memoryMb),
  HOIST_BUILD_CPUS: z.coerce
    .number({ error: "a number of cores, such as 2 or 0.5" })
    .min(0.1, "at least 0.1 cores")
    .max(1024, "at most 1024 cores")
    .default(defaultBuildCaps.cpus),
  HOIST_BUILD_PIDS: z.coerce
    .number({ error: "a whole number of processes" })
    .int("a whole number of processes")
    .min(32, "at least 32 processes")
    .max(1_000_000, "at most 1000000 processes")
    .default(defaultBuildCaps.pids),
  HOIST_BUILD_TIMEOUT_S: z.coerce
    .number({ error: "a whole number of seconds" })
    .int("a whole number of seconds")
    .min(1, "at least 1 second")
    .max(24 * 3600, "at most 86400 seconds (24 h)")
    .default(defaultBuildCaps.timeoutSec),
});
export type Env = z.infer<typeof envSchema>;

/** The builder-wide build limits from the environment. */
export function buildCapsOf(
  env: Pick<Env, "HOIST_BUILD_MEMORY_MB" | "HOIST_BUILD_CPUS" | "HOIST_BUILD_PIDS" | "HOIST_BUILD_TIMEOUT_S">,
): BuildCaps {
  return {
    memoryMb: env.HOIST_BUILD_MEMORY_MB,
    cpus: env.HOIST_BUILD_CPUS,
    pids: env.HOIST_BUILD_PIDS,
    timeoutSec: env.HOIST_BUILD_TIMEOUT_S,
  };
}
