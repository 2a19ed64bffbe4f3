import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testRedisUrl } from "@hoist/shared/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_FAILURES_PER_MINUTE } from "../../services/api/src/auth/failure-limit.js";
import { TokenStore } from "../../services/api/src/auth/token-store.js";
import { SessionStore } from "../../services/api/src/dashboard/session.js";
import { API_TOKEN, type ApiHarness, startApi } from "../support/api/harness.js";
import { freePort } from "../support/net.js";
import { type ServiceProcess, startService } from "../support/processes.js";
import { hoist } from "./cli.js";

const call = (url: string, token: string, method: string, path: string, body?: unknown) =>
  fetch(`${url}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** Every key and value under the prefix, as text. */
async function dump(h: ApiHarness): Promise<string> {
  const parts: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await h.redis.scan(cursor, "MATCH", `${h.prefix}:*`, "COUNT", 500);
    cursor = next;
    for (const k of keys) {
      const type = await h.redis.type(k);
      parts.push(k, type === "hash" ? JSON.stringify(await h.redis.hgetall(k)) : type === "string" ? ((await h.redis.get(k)) ?? "") : "");
    }
  } while (cursor !== "0");
  return parts.join("\n");
}

describe("API tokens: created once, stored as a hash, revoked across API processes at once", () => {
  let a: ApiHarness;
  let b: { url: string; process: ServiceProcess };

  beforeAll(async () => {
    a = await startApi();
    // A second API, the built one as its own process, over the same Redis data: another replica.
    const port = await freePort();
    const process = startService("api", {
      REDIS_URL: testRedisUrl(),
      HOIST_QUEUE_PREFIX: a.prefix,
      HOIST_PORT: String(port),
      HOIST_HOST: "127.0.0.1",
      HOIST_API_TOKEN: API_TOKEN,
      HOIST_DATA_DIR: mkdtempSync(join(tmpdir(), "hoist-tokens-")),
    });
    b = { url: `http://127.0.0.1:${port}`, process };
    await process.waitForLog(/"msg":"ready"/);
  });
  afterAll(async () => {
    await b?.process.stop();
    await a?.close();
  });

  it("POST /v1/tokens answers 201 { id, name, role, token } once; the token itself is nowhere in Redis", async () => {
    const res = await a.api("POST", "/tokens", { name: "ci deploys", role: "deployer", apps: ["web"] });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(["id", "name", "role", "token"]);
    expect(res.body).toMatchObject({ name: "ci deploys", role: "deployer" });
    expect(res.body.token).toMatch(/^hoist_[A-Za-z0-9_-]{43}$/);
    expect(await dump(a)).not.toContain(res.body.token);
    const list = await a.api("GET", "/tokens");
    const row = list.body.tokens.find((t: { id: string }) => t.id === res.body.id);
    expect(row).toMatchObject({ name: "ci deploys", role: "deployer", apps: ["web"], lastUsedAt: null });
    expect(JSON.stringify(list.body)).not.toContain(res.body.token);
  });

  it("refuses bad input with what to send", async () => {
    const bad = await a.api("POST", "/tokens", { name: "x", role: "root" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("role: one of viewer, deployer, maintainer, admin");
    const past = await a.api("POST", "/tokens", { name: "x", role: "viewer", expiresAt: "2001-01-01T00:00:00Z" });
    expect(past.status).toBe(400);
    expect(past.body.error.message).toContain("expiresAt: must be in the future");
  });

  it("a token works on another API process, records its last use, and fails there within 1 s of DELETE", async () => {
    const { body: made } = await a.api("POST", "/tokens", { name: "laptop", role: "viewer" });
    expect((await call(b.url, made.token, "GET", "/apps")).status).toBe(200);
    const used = (await a.api("GET", "/tokens")).body.tokens.find((t: { id: string }) => t.id === made.id);
    expect(Date.parse(used.lastUsedAt)).toBeGreaterThan(Date.now() - 10_000);
    expect((await a.api("DELETE", `/tokens/${made.id}`)).status).toBe(204);
    const revokedAt = performance.now();
    let status = 0;
    while (performance.now() - revokedAt < 1000) {
      status = (await call(b.url, made.token, "GET", "/apps")).status;
      if (status === 401) break;
    }
    const ms = performance.now() - revokedAt;
    expect(status).toBe(401);
    expect(ms).toBeLessThan(1000);
    console.log(`revoked token refused by the other API process after ${ms.toFixed(1)} ms`);
    expect((await a.api("DELETE", `/tokens/${made.id}`)).status).toBe(404);
  });

  it("an expired token is refused, and so is a dashboard session signed in with it", async () => {
    const { record, token } = await new TokenStore(a.redis, a.prefix).create({
      name: "old",
      role: "admin",
      expiresAt: new Date(Date.now() - 1000).toISOString(),
    });
    expect((await call(a.url, token, "GET", "/apps")).status).toBe(401);
    const session = await new SessionStore(a.redis, a.prefix).create({ kind: "token", id: record.id });
    const page = await fetch(`${a.url}/`, { headers: { cookie: `hoist_session=${session.id}`, accept: "application/json" } });
    expect(page.status).toBe(401);
  });

  it("nobody but an admin makes a token stronger than themselves, or sees others' tokens", async () => {
    const { body: dep } = await a.api("POST", "/tokens", { name: "dev", role: "deployer" });
    const stronger = await call(a.url, dep.token, "POST", "/tokens", { name: "sneaky", role: "maintainer" });
    expect(stronger.status).toBe(403);
    expect(((await stronger.json()) as { error: { message: string } }).error.message).toContain("not maintainer");
    const own = await call(a.url, dep.token, "POST", "/tokens", { name: "dev's ci", role: "viewer" });
    expect(own.status).toBe(201);
    const mine = (await (await call(a.url, dep.token, "GET", "/tokens")).json()) as { tokens: { name: string }[] };
    expect(mine.tokens.map((t) => t.name)).toEqual(["dev's ci"]);
    const all = await a.api("GET", "/tokens");
    expect(all.body.tokens.length).toBeGreaterThan(2);
  });

  it("hoist tokens create | list | revoke, and hoist login accepts a personal token", async () => {
    const env = { HOIST_URL: a.url, HOIST_TOKEN: API_TOKEN };
    const made = await hoist(["tokens", "create", "release-bot", "--role", "deployer", "--apps", "web,api", "--json"], env);
    expect(made.stderr).toBe("");
    expect(made.code).toBe(0);
    const token = JSON.parse(made.stdout) as { id: string; token: string };
    const list = await hoist(["tokens", "list"], env);
    expect(list.stdout).toMatch(new RegExp(`${token.id}\\s+release-bot\\s+deployer\\s+web,api\\s+never\\s+never`));
    const home = mkdtempSync(join(tmpdir(), "hoist-cli-"));
    const login = await hoist(["login", a.url], { XDG_CONFIG_HOME: home }, `${token.token}\n`);
    expect(login.code).toBe(0);
    const revoked = await hoist(["tokens", "revoke", token.id], env);
    expect(revoked.code).toBe(0);
    const after = await hoist(["apps", "list"], { XDG_CONFIG_HOME: home });
    expect(after.code).toBe(3);
    expect(after.stderr).toContain("HTTP 401");
  });
});

describe("repeated failures from one address are slowed", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi();
  });
  afterAll(async () => {
    await h?.close();
  });

  it(`answers 429 with Retry-After after ${MAX_FAILURES_PER_MINUTE} failures a minute, to right and wrong tokens alike`, async () => {
    for (let i = 0; i < MAX_FAILURES_PER_MINUTE; i++) {
      expect((await call(h.url, `hoist_${"x".repeat(43)}`, "GET", "/apps")).status).toBe(401);
    }
    const slowed = await call(h.url, "wrong", "GET", "/apps");
    expect(slowed.status).toBe(429);
    const wait = Number(slowed.headers.get("retry-after"));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60);
    // The right token gets the same answer: a 429 tells nothing about the credential.
    expect((await call(h.url, API_TOKEN, "GET", "/apps")).status).toBe(429);
    const login = await fetch(`${h.url}/login`, { method: "POST", body: new URLSearchParams({ token: API_TOKEN }), redirect: "manual" });
    expect(login.status).toBe(429);
    expect(login.headers.get("retry-after")).toBe(String(wait));
  });
});
