import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createWorkspace, realPathInside, removeStaleWorkspaces } from "./workspace.js";

describe("workspaces", () => {
  const dir = mkdtempSync(join(tmpdir(), "hoist-ws-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("creates private dirs and removes only those of dead processes at start", async () => {
    const mine = await createWorkspace(dir, "bld_live");
    expect(statSync(mine.secretDir).mode & 0o777).toBe(0o700);
    // pid 2^22+1 is above Linux's pid_max limit: never a live process.
    mkdirSync(join(dir, "bld_dead.4194305.abcd1234", "ssh"), { recursive: true });
    mkdirSync(join(dir, `bld_other.${process.ppid}.abcd1234`));
    mkdirSync(join(dir, "unrelated"));
    // A previous process with this very pid (a restarted container's pid 1).
    mkdirSync(join(dir, `bld_before.${process.pid}.00000000.aaaaaa`));
    expect((await removeStaleWorkspaces(dir)).sort()).toEqual([`bld_before.${process.pid}.00000000.aaaaaa`, "bld_dead.4194305.abcd1234"]);
    expect(readdirSync(dir).sort()).toEqual([`bld_other.${process.ppid}.abcd1234`, mine.root.split("/").pop(), "unrelated"].sort());
    await mine.remove();
    expect(readdirSync(dir)).not.toContain(mine.root.split("/").pop());
  });

  it("refuses paths that leave the repository through symlinks", async () => {
    const repo = join(dir, "repo");
    mkdirSync(join(repo, "web"), { recursive: true });
    symlinkSync("..", join(repo, "up"));
    symlinkSync("web", join(repo, "alias"));
    await expect(realPathInside(repo, "web", "context")).resolves.toBe(join(repo, "web"));
    await expect(realPathInside(repo, "alias", "context")).resolves.toBe(join(repo, "web"));
    await expect(realPathInside(repo, "up", "context")).rejects.toThrow("context up leaves the repository");
    await expect(realPathInside(repo, "nope", "context")).rejects.toThrow("context nope does not exist in the repository");
  });
});
