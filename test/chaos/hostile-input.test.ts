import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { recordKeys } from "@hoist/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliver, signedHeaders } from "../ingress/webhook-helpers.js";
import { pushPayload, tagPushPayload } from "../support/api/fixtures.js";
import { API_TOKEN, type ApiHarness, startApi } from "../support/api/harness.js";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Scenario 6 at the API: hostile requests get a 4xx, never a 5xx, never a job, never a command run. */
describe("chaos 6: hostile input at the webhook and the API", () => {
  let h: ApiHarness;
  let hook: string;
  let token: string;
  let signedHook: string;
  const secret = `whsec_${Buffer.from("chaos-signing-secret-0123456789ab").toString("base64")}`;
  const canaryDir = mkdtempSync(join(tmpdir(), "hoist-canary-"));
  const canary = join(canaryDir, "pwned");
  const jobs = async () => {
    const c = await h.deps.queues.queue("build").getJobCounts("waiting", "active", "delayed", "prioritized", "completed", "failed");
    return Object.values(c).reduce((a, b) => a + b, 0);
  };

  beforeAll(async () => {
    h = await startApi();
    const res = await h.api("POST", "/apps", { name: "hostile", branch: "*", repo: { sshUrl: "git@h:a/hostile.git" } });
    hook = `${h.url}${new URL(res.body.webhook.url).pathname}`;
    token = res.body.webhook.token;
    const signed = await h.api("POST", "/apps", { name: "signed", repo: { sshUrl: "git@h:a/signed.git" }, signingSecret: secret });
    expect(signed.status).toBe(201);
    signedHook = `${h.url}${new URL(signed.body.webhook.url).pathname}`;
  });
  afterAll(async () => {
    await h?.close();
    rmSync(canaryDir, { recursive: true, force: true });
  });

  it("rejects wrong and missing tokens in a time that does not depend on how much of the token matched", async () => {
    const before = await jobs();
    const N = 150;
    const wrongFirst = `${token[0] === "A" ? "B" : "A"}${token.slice(1)}`;
    const wrongLast = `${token.slice(0, -1)}${token.at(-1) === "A" ? "B" : "A"}`;
    const apiWrongFirst = `X${API_TOKEN.slice(1)}`;
    const apiWrongLast = `${API_TOKEN.slice(0, -1)}X`;
    const t = { hookFirst: [] as number[], hookLast: [] as number[], apiFirst: [] as number[], apiLast: [] as number[] };
    const body = pushPayload();
    const apiCall = async (tok: string) => {
      // 20 failures a minute from one address turn into 429 (auth/failure-limit.ts): this measures the 401 path.
      await h.redis.del(recordKeys(h.prefix).authFailures("127.0.0.1"));
      const t0 = performance.now();
      const r = await fetch(`${h.url}/v1/apps`, { headers: { authorization: `Bearer ${tok}` } });
      await r.text();
      expect(r.status).toBe(401);
      return performance.now() - t0;
    };
    // Interleaved, so load on the machine hits both sides alike.
    for (let i = 0; i < N; i++) {
      for (const [k, tok] of [
        ["hookFirst", wrongFirst],
        ["hookLast", wrongLast],
      ] as const) {
        const r = await deliver(hook, { event: "Push Hook", token: tok, body });
        expect(r.status).toBe(401);
        t[k].push(r.ms);
      }
      t.apiFirst.push(await apiCall(apiWrongFirst));
      t.apiLast.push(await apiCall(apiWrongLast));
    }
    for (const tok of [undefined, "", " "]) expect((await deliver(hook, { event: "Push Hook", token: tok, body })).status).toBe(401);
    expect((await fetch(`${h.url}/v1/apps`)).status).toBe(401);
    const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
    console.log(
      `chaos 6 token timing (median of ${N}): webhook first char wrong ${m.hookFirst.toFixed(3)} ms vs last char wrong ${m.hookLast.toFixed(3)} ms; ` +
        `API ${m.apiFirst.toFixed(3)} ms vs ${m.apiLast.toFixed(3)} ms`,
    );
    // Both sides hash before a constant-time compare; what is left is scheduling noise.
    expect(Math.abs(m.hookFirst - m.hookLast)).toBeLessThan(Math.max(0.5, 0.25 * m.hookFirst));
    expect(Math.abs(m.apiFirst - m.apiLast)).toBeLessThan(Math.max(0.5, 0.25 * m.apiFirst));
    expect(await jobs()).toBe(before);
  }, 120_000);

  it("refuses replayed signatures outside 5 minutes, big, deep and malformed bodies and wrong content types: 4xx, no job", async () => {
    const before = await jobs();
    const results: string[] = [];
    const note = (what: string, r: { status: number; ms: number }) => {
      results.push(`${what} ${r.status} (${Math.round(r.ms)} ms)`);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    };
    const raw = JSON.stringify(pushPayload());
    for (const skew of [-301, 301, -3600]) {
      note(
        `signature ${skew} s off`,
        await deliver(signedHook, {
          event: "Push Hook",
          body: null,
          raw,
          headers: signedHeaders(secret, raw, Math.floor(Date.now() / 1000) + skew),
        }),
      );
    }
    const good = signedHeaders(secret, raw);
    note("signature over another body", await deliver(signedHook, { event: "Push Hook", body: null, raw: `${raw} `, headers: good }));

    const big = Buffer.alloc(30 * 1024 * 1024, 0x20);
    note("30 MB body", await deliver(hook, { event: "Push Hook", token, body: null, raw: big }));
    note("30 MB body, chunked", await chunked(hook, token, 30 * 1024 * 1024));
    const deep = `${"[".repeat(200_000)}${"]".repeat(200_000)}`;
    note("deep JSON (200k levels) at the webhook", await deliver(hook, { event: "Push Hook", token, body: null, raw: deep }));
    const huge = JSON.stringify({
      ...pushPayload(),
      commits: Array.from({ length: 5_000 }, (_, i) => ({ id: `${i}`, message: "x".repeat(150) })),
    });
    // A well-formed push is allowed to be big (up to HOIST_WEBHOOK_MAX_BYTES): accepted, one build.
    const hugeAnswer = await deliver(hook, { event: "Push Hook", token, body: null, raw: huge });
    results.push(`huge JSON (${Math.round(huge.length / 1024)} kB) ${hugeAnswer.status} (${Math.round(hugeAnswer.ms)} ms)`);
    expect(hugeAnswer.status).toBe(202);
    note("not JSON", await deliver(hook, { event: "Push Hook", token, body: null, raw: "<xml/>" }));
    note("deep JSON at the API", await apiRaw("POST", "/v1/apps", deep, "application/json"));
    note(
      "text/plain at the API",
      await apiRaw("POST", "/v1/apps", JSON.stringify({ name: "x", repo: { sshUrl: "git@h:a/x.git" } }), "text/plain"),
    );
    note("form at the API", await apiRaw("POST", "/v1/apps", "name=x", "application/x-www-form-urlencoded"));
    note("30 MB at the API", await apiRaw("POST", "/v1/apps", big, "application/json"));
    console.log(`chaos 6 hostile bodies: ${results.join("; ")}`);
    expect(await jobs()).toBe(before + 1);
    expect((await h.api("GET", "/apps")).status).toBe(200);
  }, 120_000);

  it("app names, refs and tags with shell or path characters: refused or inert, and the canary never appears", async () => {
    const before = await jobs();
    const inject = [`x;touch ${canary}`, `$(touch ${canary})`, `\`touch ${canary}\``, "../../etc", "a/b", "web|id", "web:latest", "a\nb"];
    const answers: number[] = [];
    for (const name of inject) {
      const r = await h.api("POST", "/apps", { name, repo: { sshUrl: "git@h:a/x.git" } });
      answers.push(r.status);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBeDefined();
      const got = await fetch(`${h.url}/v1/apps/${encodeURIComponent(name)}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect([400, 404]).toContain(got.status);
    }
    expect(await jobs()).toBe(before);
    // Refs git itself refuses (check-ref-format) cannot come from GitLab: 400, no job.
    const badRefs = [
      "refs/tags/v1:latest",
      "refs/heads/a..b",
      "refs/heads/a b",
      "refs/heads/x\u0000y",
      "refs/heads/../../etc",
      "refs/heads/a~1",
    ];
    for (const ref of badRefs) {
      const isTag = ref.startsWith("refs/tags/");
      const body = isTag ? { ...tagPushPayload("v1"), ref } : { ...pushPayload(), ref };
      const r = await deliver(hook, { event: isTag ? "Tag Push Hook" : "Push Hook", token, body });
      answers.push(r.status);
      expect(r.status).toBe(400);
    }
    expect(await jobs()).toBe(before);
    // Refs git allows, shell characters included, are data: one build each, and nothing runs them.
    // Each carries a working command (no space: git refuses those; ${IFS} stands in) that creates
    // a canary file of its own, as a handler that passed the ref to a shell would.
    const touch = (name: string) => `touch\${IFS}${join(canaryDir, name)}`;
    const shellRefs = [
      { ref: `refs/heads/x;${touch("semicolon")}`, canary: "semicolon" },
      { ref: `refs/heads/$(${touch("subshell")})`, canary: "subshell" },
      { ref: `refs/tags/v1\`${touch("backtick")}\``, canary: "backtick" },
      { ref: `refs/heads/a|${touch("pipe")}`, canary: "pipe" },
      { ref: `refs/heads/a&&${touch("and")}`, canary: "and" },
    ];
    const vulnerable = await vulnerableHandler();
    const proven: string[] = [];
    try {
      for (const { ref, canary: name } of shellRefs) {
        const file = join(canaryDir, name);
        expect(spawnSync("git", ["check-ref-format", ref]).status, `git accepts ${ref}`).toBe(0);
        const isTag = ref.startsWith("refs/tags/");
        const body = isTag ? { ...tagPushPayload("v1"), ref } : { ...pushPayload(), ref };
        const event = isTag ? "Tag Push Hook" : "Push Hook";
        // The same delivery to a handler that runs `echo building <ref>` in a shell: its canary appears.
        expect((await deliver(vulnerable.url, { event, token, body })).status).toBe(202);
        expect(existsSync(file), `the canary of ${ref} fires in a shell`).toBe(true);
        rmSync(file);
        proven.push(name);
        // Hoist takes it as a build of that ref and runs nothing.
        const r = await deliver(hook, { event, token, body });
        answers.push(r.status);
        expect(r.status).toBe(202);
        expect(existsSync(file), `the canary of ${ref} at Hoist`).toBe(false);
      }
    } finally {
      await vulnerable.close();
    }
    expect(await jobs()).toBe(before + shellRefs.length);
    expect(readdirSync(canaryDir)).toEqual([]);
    expect(existsSync(canary)).toBe(false);
    console.log(
      `chaos 6 names and refs: ${inject.length} hostile app names → 400; ${badRefs.length} refs git refuses → 400; ` +
        `${shellRefs.length} refs with shell commands → 202 each, their canaries fired in a vulnerable shell handler (${proven.join(", ")}) and never at Hoist`,
    );
  });

  async function apiRaw(method: string, path: string, body: string | Buffer, type: string) {
    const t0 = performance.now();
    const r = await fetch(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": type }, body });
    await r.text();
    return { status: r.status, ms: performance.now() - t0 };
  }
});

/**
 * The mistake the ref check guards against, made on purpose (test only): a webhook handler that
 * puts the pushed ref into a shell command line.
 */
async function vulnerableHandler(): Promise<{ url: string; close(): Promise<void> }> {
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const { ref } = JSON.parse(Buffer.concat(chunks).toString()) as { ref: string };
      spawnSync("sh", ["-c", `echo building ${ref}`]);
      res.writeHead(202, { "content-type": "application/json" }).end("{}");
    });
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, close: () => new Promise((r) => srv.close(() => r())) };
}

/** A body sent chunked (no Content-Length), so only counting bytes can stop it. */
function chunked(url: string, token: string, bytes: number): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-gitlab-event": "Push Hook",
        "x-gitlab-token": token,
        "transfer-encoding": "chunked",
      },
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      req.destroy();
    });
    req.on("error", (e) => (e.message.includes("EPIPE") || e.message.includes("ECONNRESET") ? undefined : reject(e)));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}
