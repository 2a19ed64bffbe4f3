import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliver } from "../ingress/webhook-helpers.js";
import { pushPayload } from "../support/api/fixtures.js";
import { registryTags } from "../support/builder/world.js";
import type { FileSpec } from "../support/git/index.js";
import { type Pipeline, startPipeline } from "./pipeline.js";
import { untilSettled } from "./support.js";

/**
 * Scenario 6 through the builder: repositories whose compose file sends the build outside the
 * repository (paths, absolute paths, symlinks to files, directories and a FIFO out there) or
 * carries shell syntax, pushed to branches whose names carry shell syntax, through the real
 * webhook and builder process. Each build fails with a reason naming the path, pushes nothing,
 * writes nothing outside its build dir, and no shell ever runs the canary's `touch`.
 */
describe("chaos 6: hostile compose files through the webhook and a builder process", () => {
  const root = mkdtempSync(join(tmpdir(), "hoist-chaos-hostile-"));
  const outside = join(root, "outside");
  const workDir = join(root, "work");
  const canary = join(root, "canary", "pwned");
  const touch = `$(touch\${IFS}${canary})`;
  const app = `hostile-${process.pid}`;
  let p: Pipeline;
  let hook: string;
  let token: string;

  beforeAll(async () => {
    mkdirSync(join(outside, "dir"), { recursive: true });
    mkdirSync(join(root, "canary"));
    mkdirSync(workDir);
    writeFileSync(join(outside, "secret.txt"), "outside the repository\n");
    writeFileSync(join(outside, "Dockerfile"), `FROM busybox\nRUN touch ${canary}\n`);
    writeFileSync(join(outside, "dir", "Dockerfile"), "FROM busybox\n");
    writeFileSync(join(outside, "compose.yml"), "services:\n  web:\n    build: .\n");
    // A FIFO nobody writes to: opening it for reading blocks until a writer comes.
    execFileSync("mkfifo", [join(outside, "fifo")]);
    p = await startPipeline({ workDir });
    ({ hook, token } = await p.createApp({ name: app, branch: "*", buildTimeoutSec: 60 }));
  }, 120_000);
  afterAll(async () => {
    await p?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** Every entry under `dir` with its type, size, mode and content hash (what "nothing written" is checked against). */
  const snapshot = (dir: string): string[] =>
    readdirSync(dir, { recursive: true, encoding: "utf8" })
      .sort()
      .map((rel) => {
        const st = lstatSync(join(dir, rel));
        const hash = st.isFile()
          ? createHash("sha256")
              .update(readFileSync(join(dir, rel)))
              .digest("hex")
              .slice(0, 16)
          : "";
        return `${rel} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${hash}`;
      });

  const web = (build: unknown) => `services:\n  web:\n    build: ${JSON.stringify(build)}\n`;
  const dockerfile = "FROM busybox\n";
  const cases: { what: string; files: Record<string, FileSpec>; reason: RegExp }[] = [
    {
      what: "context ../..",
      files: { "docker-compose.yml": web({ context: "../../outside/dir" }), Dockerfile: dockerfile },
      reason: /context .* leaves the repository/,
    },
    {
      what: "absolute context",
      files: { "docker-compose.yml": web({ context: join(outside, "dir") }) },
      reason: /context .* leaves the repository \(absolute path\)/,
    },
    {
      what: "dockerfile ../..",
      files: { "docker-compose.yml": web({ context: ".", dockerfile: "../../../outside/Dockerfile" }) },
      reason: /dockerfile .* leaves the repository/,
    },
    {
      what: "absolute dockerfile",
      files: { "docker-compose.yml": web({ context: ".", dockerfile: join(outside, "Dockerfile") }) },
      reason: /dockerfile .* leaves the repository/,
    },
    {
      what: "context through a symlink",
      files: { "docker-compose.yml": web({ context: "ctx" }), ctx: { symlink: join(outside, "dir") } },
      reason: /context ctx leaves the repository/,
    },
    {
      what: "context through a relative symlink",
      files: { "docker-compose.yml": web({ context: "up/dir" }), up: { symlink: "../../../../../../../../../..".concat(outside) } },
      reason: /context up\/dir leaves the repository/,
    },
    {
      what: "dockerfile a symlink",
      files: { "docker-compose.yml": web({ context: "." }), Dockerfile: { symlink: join(outside, "Dockerfile") } },
      reason: /dockerfile Dockerfile leaves the repository/,
    },
    {
      what: "compose file a symlink",
      files: { "docker-compose.yml": { symlink: join(outside, "compose.yml") }, Dockerfile: dockerfile },
      reason: /compose file docker-compose.yml leaves the repository/,
    },
    {
      what: "compose file a symlink to a FIFO",
      files: { "compose.yaml": { symlink: join(outside, "fifo") }, Dockerfile: dockerfile },
      reason: /compose file compose.yaml leaves the repository/,
    },
    {
      what: ".env a symlink to a FIFO",
      files: { "docker-compose.yml": web("."), ".env": { symlink: join(outside, "fifo") }, Dockerfile: dockerfile },
      reason: /\.env leaves the repository/,
    },
    {
      what: ".dockerignore a symlink to a FIFO",
      files: { "docker-compose.yml": web("."), ".dockerignore": { symlink: join(outside, "fifo") }, Dockerfile: dockerfile },
      reason: /ignore file \.dockerignore leaves the repository/,
    },
    {
      what: "shell in context",
      files: { "docker-compose.yml": web({ context: touch }), Dockerfile: dockerfile },
      reason: /context .* does not exist in the repository/,
    },
    {
      what: "shell in dockerfile",
      files: { "docker-compose.yml": web({ context: ".", dockerfile: `Dockerfile;touch ${canary}` }), Dockerfile: dockerfile },
      reason: /dockerfile .* does not exist in the repository/,
    },
    {
      what: "shell through .env",
      files: { "docker-compose.yml": web({ context: `\${CTX}` }), ".env": `CTX=\`touch ${canary}\`\n`, Dockerfile: dockerfile },
      reason: /context .* does not exist in the repository/,
    },
    {
      what: "shell in a service name",
      files: { "docker-compose.yml": `services:\n  "web;touch ${canary}":\n    build: .\n`, Dockerfile: dockerfile },
      reason: /service names are/,
    },
  ];

  it(`${cases.length} hostile compose files: each build fails with its reason, nothing pushed, nothing written outside the build dir, no canary`, async () => {
    const t0 = performance.now();
    const before = snapshot(root).filter((l) => !l.startsWith("work"));
    const sent: { what: string; buildId: string; status: number; reason: RegExp }[] = [];
    // Each commit holds only its case's files (the others' are deleted).
    const none = Object.fromEntries(cases.flatMap((c) => Object.keys(c.files)).map((path) => [path, null]));
    for (const [i, c] of cases.entries()) {
      // The branch name carries shell syntax too: it is data all the way (the builder fetches by SHA).
      const branch = `hostile-${i}-${touch}`;
      const sha = p.repo.commit({ ...none, ...c.files }, `hostile ${i}: ${c.what}`, branch);
      const r = await deliver(hook, { event: "Push Hook", token, body: pushPayload({ branch, after: sha }) });
      sent.push({ what: c.what, buildId: r.body.buildId, status: r.status, reason: c.reason });
    }
    const final = await untilSettled(
      () => Promise.all(sent.map((s) => p.h.deps.records.builds.require(s.buildId))),
      (bs) => bs.every((b) => ["succeeded", "failed", "canceled"].includes(b.status)),
      120_000,
      200,
    );
    await untilSettled(
      async () => Object.values(await p.h.deps.queues.queue("build").getJobCounts("active", "waiting", "delayed", "prioritized")),
      (counts) => counts.every((n) => n === 0),
      30_000,
    );
    const ms = final.map((b) => Date.parse(b.finishedAt ?? "") - Date.parse(b.createdAt));
    const jobs = await p.h.deps.queues.queue("build").getJobs(["completed", "failed"]);
    const attempts = sent.map((s) => jobs.find((j) => j.id === s.buildId)?.attemptsMade);
    const tags = await registryTags(process.env.HOIST_TEST_REGISTRY as string, app);
    const deployJobs = await p.h.deps.queues
      .queue("deploy")
      .getJobs(["waiting", "active", "delayed", "prioritized", "completed", "failed"]);
    const releases = await p.h.deps.records.releases.listByApp(app, 100);
    const after = snapshot(root).filter((l) => !l.startsWith("work"));
    console.log(
      `chaos 6 hostile compose: ${cases.length} pushes → ${sent.filter((s) => s.status === 202).length} × 202; builds ${JSON.stringify(
        Object.fromEntries(["failed", "succeeded", "canceled"].map((st) => [st, final.filter((b) => b.status === st).length])),
      )}; slowest to fail ${Math.max(...ms)} ms; attempts ${attempts.join("/")}; registry tags ${tags.length}; ` +
        `releases ${releases.length}; deploy jobs ${deployJobs.length}; work dir entries ${readdirSync(workDir).length}; ` +
        `files outside changed ${after.filter((l) => !before.includes(l)).length}; canary ${existsSync(canary) ? "PRESENT" : "absent"}; ` +
        `${Math.round(performance.now() - t0)} ms; reasons: ${sent.map((s, i) => `${s.what} → "${final[i]?.reason}"`).join("; ")}`,
    );
    for (const [i, s] of sent.entries()) {
      expect(s.status, s.what).toBe(202);
      expect(final[i]?.status, s.what).toBe("failed");
      expect(final[i]?.reason, s.what).toMatch(/^compose: /);
      expect(final[i]?.reason, s.what).toMatch(s.reason);
      // A hostile compose file is a permanent failure: one attempt, no retry.
      expect(attempts[i], s.what).toBe(1);
    }
    expect(tags).toEqual([]);
    expect(releases).toEqual([]);
    expect(deployJobs).toEqual([]);
    expect(readdirSync(workDir)).toEqual([]);
    expect(after).toEqual(before);
    expect(existsSync(canary)).toBe(false);
    expect(p.builder.child.exitCode).toBeNull();
  }, 240_000);
});
