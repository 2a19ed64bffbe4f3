import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { deriveKeyring, loadKeyring } from "@hoist/shared";
import { describe, expect, it } from "vitest";
import { parseTargets } from "./targets.js";

describe("keyring targets", () => {
  it("reads service=path with an optional owner", () => {
    expect(parseTargets(["builder=/k/b.json", "notifier=/k/n.json:1000", "deployer=/k/d.json:0:5"])).toEqual([
      { service: "builder", path: "/k/b.json" },
      { service: "notifier", path: "/k/n.json", owner: { uid: 1000, gid: 1000 } },
      { service: "deployer", path: "/k/d.json", owner: { uid: 0, gid: 5 } },
    ]);
  });

  it("refuses what is not a worker, a relative path, or nothing at all, saying how to call it", () => {
    expect(() => parseTargets(["api=/k/a.json"])).toThrow(/"api" holds no keyring: one of builder, deployer, notifier/);
    expect(() => parseTargets(["builder=k.json"])).toThrow(/absolute path/);
    expect(() => parseTargets(["builder"])).toThrow(/is not <service>=<path>/);
    expect(() => parseTargets([])).toThrow(/^usage:/);
  });

  it("the built command writes each keyring from the master key (needs pnpm build)", () => {
    const dir = mkdtempSync(join(tmpdir(), "hoist-keyrings-"));
    const master = randomBytes(32);
    writeFileSync(join(dir, "master.key"), master.toString("base64"), { mode: 0o600 });
    const main = resolve(import.meta.dirname, "..", "..", "dist", "keyrings", "main.js");
    const run = spawnSync(process.execPath, [main, `builder=${dir}/k/builder.json`, `notifier=${dir}/k/notifier.json`], {
      env: { PATH: process.env.PATH ?? "", HOIST_MASTER_KEY_FILE: join(dir, "master.key") },
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(0);
    expect(loadKeyring(join(dir, "k", "notifier.json"))).toEqual(deriveKeyring(master, "notifier"));
    expect(statSync(join(dir, "k", "builder.json")).mode & 0o777).toBe(0o600);
    const bad = spawnSync(process.execPath, [main, "api=/x"], { encoding: "utf8" });
    expect([bad.status, bad.stderr.trim()]).toEqual([
      64,
      'keyrings: "api" holds no keyring: one of builder, deployer, notifier (the API holds the master key)',
    ]);
  });
});
