import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ComposeError } from "../domain/compose-error.js";
import { resolveServices } from "./pipeline.js";

describe("resolveServices", () => {
  const dir = mkdtempSync(join(tmpdir(), "hoist-resolve-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a .dockerignore Docker would refuse, naming the file and line (a permanent compose failure, before any build)", async () => {
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\n");
    writeFileSync(join(dir, ".dockerignore"), "node_modules\n[abc\n");
    const err = await resolveServices(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComposeError);
    expect((err as Error).message).toMatch(/^\.dockerignore line 2: pattern "\[abc": malformed character class/);
    writeFileSync(join(dir, ".dockerignore"), "node_modules\n");
    expect((await resolveServices(dir)).services).toHaveLength(1);
  });
});
