import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorizeKey, createRepo, makeKeypair, sshHostKeyLine, type TestRepo } from "../../../../test/support/git/index.js";
import { canary } from "../../../../test/support/net.js";
import { BuildFailure } from "../domain/failure.js";
import { fetchCommit, parseSshUrl } from "./git.js";

describe("parseSshUrl", () => {
  it("reads scp-like and ssh:// URLs with the known_hosts name", () => {
    expect(parseSshUrl("git@gitlab.example.com:group/app.git")).toMatchObject({
      host: "gitlab.example.com",
      knownHostsName: "gitlab.example.com",
    });
    expect(parseSshUrl("ssh://git@10.0.0.1:2222/srv/app.git")).toMatchObject({ host: "10.0.0.1", knownHostsName: "[10.0.0.1]:2222" });
    expect(parseSshUrl("ssh://git@host:22/app.git")).toMatchObject({ knownHostsName: "host" });
    expect(() => parseSshUrl("https://gitlab.com/group/app.git")).toThrow(BuildFailure);
  });
});

describe("fetchCommit over the test sshd", () => {
  let repo: TestRepo;
  const key = makeKeypair();
  let dir: string;
  let n = 0;
  let older: string;

  beforeAll(() => {
    repo = createRepo({ allowFetchBySha: false });
    authorizeKey(key.publicKey, repo);
    older = repo.commit({ "a.txt": "one\n" }, "one");
    repo.commit({ "a.txt": "two\n" }, "two");
    dir = mkdtempSync(join(tmpdir(), "hoist-fetch-"));
  });
  afterAll(() => {
    repo.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  async function fetchInto(opts: {
    gitConfig?: string[];
    hostKeys?: string[];
    sha?: string;
    signal?: AbortSignal;
    url?: string;
    privateKey?: string | null;
    allowLocal?: boolean;
  }) {
    const root = join(dir, String(n++));
    await mkdir(join(root, "ssh"), { recursive: true, mode: 0o700 });
    const lines: string[] = [];
    const res = await fetchCommit({
      secretDir: join(root, "ssh"),
      repoDir: join(root, "src"),
      sshUrl: opts.url ?? repo.sshUrl,
      sha: opts.sha ?? older,
      privateKey: opts.privateKey === null ? undefined : key.privateKey,
      ...(opts.allowLocal ? { allowLocal: true } : {}),
      hostKeys: opts.hostKeys,
      signal: opts.signal ?? new AbortController().signal,
      log: (l) => lines.push(l),
      ...(opts.gitConfig ? { gitConfig: opts.gitConfig } : {}),
    });
    return { res, lines, root };
  }

  it("fetches an older commit by id, records the host key on first use, and keeps the key file private", async () => {
    const { res, lines, root } = await fetchInto({});
    expect(res.hostKeys).toContain(sshHostKeyLine());
    expect(lines).toContain(`checked out ${older}`);
    expect(statSync(join(root, "ssh", "deploy_key")).mode & 0o777).toBe(0o600);
    expect(lines.join("\n")).not.toContain(join(root, "ssh"));
  });

  it("falls back to fetching every branch when a (protocol v0) server refuses a fetch by id", async () => {
    const { lines } = await fetchInto({ gitConfig: ["protocol.version=0"], hostKeys: [sshHostKeyLine()] });
    expect(lines).toContain("the server refused a fetch by commit id; fetching all branches");
    expect(lines).toContain(`checked out ${older}`);
  });

  it("says so when the commit is nowhere on the server", async () => {
    const err = await fetchInto({ gitConfig: ["protocol.version=0"], sha: "0123456789012345678901234567890123456789" }).catch((e) => e);
    expect(err).toBeInstanceOf(BuildFailure);
    expect(err.message).toBe("clone: commit 0123456789012345678901234567890123456789 not found on 127.0.0.1");
    expect(err.permanent).toBe(true);
  });

  it("an unreachable host is a transient failure", async () => {
    const port = repo.sshUrl.match(/:(\d+)\//)?.[1];
    const saved = repo.sshUrl;
    (repo as { sshUrl: string }).sshUrl = saved.replace(`:${port}/`, ":1/");
    try {
      const err = await fetchInto({}).catch((e) => e);
      expect(err).toBeInstanceOf(BuildFailure);
      expect(err.message).toMatch(/^clone: cannot reach 127\.0\.0\.1: .*Connection refused/);
      expect(err.permanent).toBe(false);
    } finally {
      (repo as { sshUrl: string }).sshUrl = saved;
    }
  });

  it("an abort kills git at once", async () => {
    const ctl = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ctl.abort(new Error("stop")), 50);
    const err = await fetchInto({ signal: ctl.signal }).catch((e) => e);
    expect(err.message).toBe("stop");
    expect(performance.now() - t0).toBeLessThan(1_500);
  });

  it("clones a local repository (HOIST_LOCAL_REPOS) by path, with no deploy key", async () => {
    const { res, lines, root } = await fetchInto({ url: repo.barePath, privateKey: null, allowLocal: true });
    expect(res.hostKeys).toEqual([]);
    expect(lines).toContain(`checked out ${older}`);
    expect(readFileSync(join(root, "src", "a.txt"), "utf8")).toBe("one\n");
  });

  it("refuses a local repository while HOIST_LOCAL_REPOS is off, and an SSH URL without a deploy key", async () => {
    const off = await fetchInto({ url: `file://${repo.barePath}`, privateKey: null }).catch((e) => e);
    expect(off).toBeInstanceOf(BuildFailure);
    expect(off.message).toBe(
      `clone: file://${repo.barePath} is a local repository and HOIST_LOCAL_REPOS is off on this builder; set HOIST_LOCAL_REPOS=true or give the app an SSH URL`,
    );
    expect(off.permanent).toBe(true);
    const keyless = await fetchInto({ privateKey: null }).catch((e) => e);
    expect(keyless.message).toBe("clone: the app has no deploy key; add one and build again");
  });

  it("allows only the app's own protocol: an SSH app cannot be pointed at a local path through git's config", async () => {
    const err = await fetchInto({ gitConfig: [`url.${repo.barePath}.insteadOf=${repo.sshUrl}`] }).catch((e) => e);
    expect(err).toBeInstanceOf(BuildFailure);
    expect(err.message).toMatch(/transport 'file' not allowed/);
  });

  it("refuses https:: and ext:: URLs before git runs: the canary on 127.0.0.1 they name hears nothing", async () => {
    const trap = await canary("127.0.0.1");
    try {
      for (const url of [
        `https::http://127.0.0.1:${trap.port}/acme/web.git`,
        `ext::nc 127.0.0.1 ${trap.port}`,
        `git@https::http://127.0.0.1:${trap.port}/`,
      ]) {
        const err = await fetchInto({ url }).catch((e) => e);
        expect(err, url).toBeInstanceOf(BuildFailure);
        expect(err.message, url).toBe(`clone: ${url} is not an SSH git URL (git@host:group/app.git or ssh://user@host:port/path.git)`);
        expect(err.permanent, url).toBe(true);
      }
      expect(trap.connections()).toBe(0);
    } finally {
      await trap.close();
    }
  });
});
