import { parseEnv } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { buildCapsOf, envSchema } from "./config.js";

describe("builder config", () => {
  it("caps log lines at HOIST_LOG_LINE_MAX (4 KiB) and a build's log at HOIST_LOG_MAX_BYTES (8 MiB) by default, and says what is wrong", () => {
    expect(parseEnv(envSchema, {})).toMatchObject({ HOIST_LOG_LINE_MAX: 4096, HOIST_LOG_MAX_BYTES: 8 * 1024 * 1024 });
    expect(parseEnv(envSchema, { HOIST_LOG_LINE_MAX: "1024", HOIST_LOG_MAX_BYTES: "1048576" })).toMatchObject({
      HOIST_LOG_LINE_MAX: 1024,
      HOIST_LOG_MAX_BYTES: 1_048_576,
    });
    expect(() => parseEnv(envSchema, { HOIST_LOG_LINE_MAX: "lots" })).toThrow(
      "config: HOIST_LOG_LINE_MAX is invalid: a whole number of bytes",
    );
    expect(() => parseEnv(envSchema, { HOIST_LOG_MAX_BYTES: "10" })).toThrow(
      "config: HOIST_LOG_MAX_BYTES is invalid: at least 65536 bytes (64 KiB)",
    );
  });

  it("holds every build to HOIST_BUILD_MEMORY_MB, _CPUS, _PIDS and _TIMEOUT_S (2048 MiB, 2 cores, 1024, 30 min by default)", () => {
    expect(buildCapsOf(parseEnv(envSchema, {}))).toEqual({ memoryMb: 2048, cpus: 2, pids: 1024, timeoutSec: 1800 });
    expect(
      buildCapsOf(
        parseEnv(envSchema, {
          HOIST_BUILD_MEMORY_MB: "512",
          HOIST_BUILD_CPUS: "0.5",
          HOIST_BUILD_PIDS: "256",
          HOIST_BUILD_TIMEOUT_S: "600",
        }),
      ),
    ).toEqual({ memoryMb: 512, cpus: 0.5, pids: 256, timeoutSec: 600 });
    expect(() => parseEnv(envSchema, { HOIST_BUILD_MEMORY_MB: "2g" })).toThrow(
      "config: HOIST_BUILD_MEMORY_MB is invalid: a whole number of MiB",
    );
    expect(() => parseEnv(envSchema, { HOIST_BUILD_MEMORY_MB: "32" })).toThrow("config: HOIST_BUILD_MEMORY_MB is invalid: at least 64 MiB");
    expect(() => parseEnv(envSchema, { HOIST_BUILD_CPUS: "0" })).toThrow("config: HOIST_BUILD_CPUS is invalid: at least 0.1 cores");
    expect(() => parseEnv(envSchema, { HOIST_BUILD_PIDS: "8" })).toThrow("config: HOIST_BUILD_PIDS is invalid: at least 32 processes");
    expect(() => parseEnv(envSchema, { HOIST_BUILD_PIDS: "10.5" })).toThrow(
      "config: HOIST_BUILD_PIDS is invalid: a whole number of processes",
    );
    expect(() => parseEnv(envSchema, { HOIST_BUILD_TIMEOUT_S: "0" })).toThrow(
      "config: HOIST_BUILD_TIMEOUT_S is invalid: at least 1 second",
    );
  });
});
