import { describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { errorAnswer } from "./errors.js";
import { createAppSchema, updateAppSchema } from "./schemas.js";

const base = { name: "web", repo: { sshUrl: "git@gitlab.example.com:group/web.git" } };

/** The answer a client gets for a body, as the error handler words it. */
function answer(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(ZodError);
    const { status, body } = errorAnswer(err);
    expect(status).toBe(400);
    return body.error.message;
  }
  throw new Error("the body was accepted");
}

describe("an app's build settings (POST/PATCH /v1/apps build)", () => {
  it("accepts a network and limits, and leaves unset ones to the builder's defaults", () => {
    const input = createAppSchema.parse({ ...base, build: { network: "none", memoryMb: 512, cpus: 1.5, pids: 256, timeoutMinutes: 10 } });
    expect(input.build).toEqual({ network: "none", memoryMb: 512, cpus: 1.5, pids: 256, timeoutMinutes: 10 });
    expect(createAppSchema.parse(base).build).toBeUndefined();
    expect(updateAppSchema.parse({ build: { network: "bridge" } }).build).toEqual({ network: "bridge" });
  });

  it("refuses the host network, bad limits and unknown fields, saying what is wrong", () => {
    expect(answer(() => createAppSchema.parse({ ...base, build: { network: "host" } }))).toBe(
      'build.network: network is "bridge" (the default) or "none"',
    );
    expect(answer(() => updateAppSchema.parse({ build: { memoryMb: 16 } }))).toBe("build.memoryMb: memoryMb is at least 64");
    expect(answer(() => updateAppSchema.parse({ build: { memoryMb: 100.5 } }))).toBe("build.memoryMb: memoryMb is a whole number of MiB");
    expect(answer(() => updateAppSchema.parse({ build: { pids: 4 } }))).toBe("build.pids: pids is at least 32");
    expect(answer(() => updateAppSchema.parse({ build: { cpus: "two" } }))).toBe("build.cpus: cpus is a number of cores");
    expect(answer(() => updateAppSchema.parse({ build: { timeoutMinutes: 0 } }))).toBe(
      "build.timeoutMinutes: timeoutMinutes is at least 1",
    );
    expect(answer(() => updateAppSchema.parse({ build: { privileged: true } }))).toMatch(/^build: Unrecognized key: "privileged"/);
  });
});
