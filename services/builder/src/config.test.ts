import { parseEnv } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { envSchema } from "./config.js";

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
});
