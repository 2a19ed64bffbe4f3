// pnpm bench:ingress — drives Hoist's webhook endpoint (the real API process) and a reference
// receiver (bare node:http + queue.add, see reference-server.mjs) against the same Redis, each at a
// fixed concurrency for a fixed time, then each at a fixed 200 requests/s. Every request is a
// distinct GitLab push (its own Idempotency-Key and commit), so Hoist does its full work: auth,
// decide, dedupe claim, build record, build job, 3 notify jobs (build.pending), supersede check.
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { Agent, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 5);
// Pushes spread over this many branches. Nothing consumes the queued builds here, so a push to a
// branch with a queued build supersedes it (cancel, announce, 3 more notify jobs); with the default
// most pushes land on a fresh branch, as in a team's ordinary traffic.
const BRANCHES = Number(process.env.BENCH_BRANCHES ?? 100_000);
const API_TOKEN = randomBytes(24).toString("hex");

const children = [];
let redisChild;
process.on("exit", () => {
  for (const c of [...children, redisChild]) if (c && c.exitCode === null) c.kill("SIGKILL");
});

async function freePort() {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function startProcess(args, env, readyLine) {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  return new Promise((resolveStart, reject) => {
    const onData = (d) => {
      out += d.toString();
      if (readyLine.test(out)) resolveStart(child);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}:\n${out}`)));
  });
}

/** A private Redis for the run unless REDIS_URL is given. */
async function redisUrl() {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "hoist-bench-redis-"));
  const child = spawn(
    "redis-server",
    [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--save",
      "",
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--maxmemory-policy",
      "noeviction",
      "--dir",
      dir,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  redisChild = child;
  let out = "";
  await new Promise((r) =>
    child.stdout.on("data", (d) => {
      out += d;
      if (/Ready to accept/.test(out)) r();
    }),
  );
  return `redis://127.0.0.1:${port}`;
}

// One keep-alive agent per phase: a socket left idle between phases may be closed by the server
// (its keep-alive timeout) just as the next phase reuses it, which would show up as ECONNRESET.
let agent = new Agent({ keepAlive: true, maxSockets: 256 });
function freshAgent() {
  agent.destroy();
  agent = new Agent({ keepAlive: true, maxSockets: 256 });
}

function post(url, headers, body) {
  return new Promise((resolvePost, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        agent,
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolvePost({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

let seq = 0;
/** A GitLab Push Hook delivery: headers as GitLab sends them, payload shaped like GitLab's. */
function pushDelivery(token) {
  const after = randomBytes(20).toString("hex");
  const branch = `feature/${seq++ % BRANCHES}`;
  const body = JSON.stringify({
    object_kind: "push",
    event_name: "push",
    before: randomBytes(20).toString("hex"),
    after,
    ref: `refs/heads/${branch}`,
    checkout_sha: after,
    user_name: "Bench",
    user_username: "bench",
    project_id: 15,
    project: { id: 15, path_with_namespace: "acme/web", default_branch: "main", git_ssh_url: "git@gitlab.example.com:acme/web.git" },
    commits: [
      {
        id: after,
        message: "Bench commit\n",
        title: "Bench commit",
        timestamp: new Date().toISOString(),
        url: `https://gitlab.example.com/acme/web/-/commit/${after}`,
        author: { name: "Bench", email: "b@example.com" },
      },
    ],
    total_commits_count: 1,
  });
  return {
    headers: {
      "content-type": "application/json",
      "x-gitlab-event": "Push Hook",
      "x-gitlab-token": token,
      "idempotency-key": randomUUID(),
      "x-gitlab-webhook-uuid": randomUUID(),
    },
    body,
  };
}

function p99(lat) {
  const s = [...lat].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)] ?? Number.NaN;
}

/** Closed loop: CONCURRENCY clients, each sending its next request when the last is answered. */
async function closedLoop(url, token, seconds) {
  freshAgent();
  const lat = [];
  let bad = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const d = pushDelivery(token);
        const t0 = performance.now();
        const res = await post(url, d.headers, d.body);
        lat.push(performance.now() - t0);
        if (res.status !== 202) bad++;
      }
    }),
  );
  return { rate: lat.length / seconds, p99: p99(lat), n: lat.length, bad, lat };
}

/** Open loop at a fixed rate; latency from each request's scheduled start (no coordinated omission). */
async function fixedRate(url, token, rate, seconds) {
  freshAgent();
  const lat = [];
  let bad = 0;
  const total = rate * seconds;
  const start = performance.now();
  const pending = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const d = pushDelivery(token);
    pending.push(
      post(url, d.headers, d.body).then((res) => {
        lat.push(performance.now() - due);
        if (res.status !== 202) bad++;
      }),
    );
  }
  await Promise.all(pending);
  return { p99: p99(lat), n: lat.length, bad };
}

const fmt = (n) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

const url = await redisUrl();
const prefix = `bench-${randomBytes(4).toString("hex")}`;

const apiPort = await freePort();
const nodeArgs = process.env.BENCH_API_NODE_ARGS ? process.env.BENCH_API_NODE_ARGS.split(" ") : [];
await startProcess(
  [...nodeArgs, join(root, "services/api/dist/main.js")],
  {
    REDIS_URL: url,
    HOIST_PORT: String(apiPort),
    HOIST_HOST: "127.0.0.1",
    HOIST_API_TOKEN: API_TOKEN,
    HOIST_LOG_LEVEL: "info",
    HOIST_QUEUE_PREFIX: `${prefix}-hoist`,
    HOIST_DATA_DIR: mkdtempSync(join(tmpdir(), "hoist-bench-data-")),
    HOIST_PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
  },
  /"msg":"ready"/,
);
const refPort = await freePort();
const ref = await startProcess(
  [join(here, "reference-server.mjs")],
  { REDIS_URL: url, PORT: String(refPort), PREFIX: `${prefix}-ref` },
  /ready/,
);

const created = await fetch(`http://127.0.0.1:${apiPort}/v1/apps`, {
  method: "POST",
  headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
  body: JSON.stringify({ name: "bench", branch: "*", repo: { sshUrl: "git@gitlab.example.com:acme/web.git" } }),
}).then((r) => r.json());
const hoistUrl = created.webhook.url;
const token = created.webhook.token;
const refUrl = `http://127.0.0.1:${refPort}/webhook`;

console.log(
  `bench ingress: ${SECONDS} s at concurrency ${CONCURRENCY} (in ${process.env.BENCH_ROUNDS ?? 5} alternating slices), then ${RATE_SECONDS} s at ${RATE}/s, each side; Redis ${url}`,
);
await closedLoop(hoistUrl, token, 1);
await closedLoop(refUrl, token, 1);
const redisCpu = async () => {
  const probe = new Redis(url);
  const info = await probe.info("cpu");
  probe.disconnect();
  return Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]);
};
// The closed-loop time is split into alternating slices (hoist, reference, hoist, ...) so a
// passing disturbance on this shared machine (another process, a Redis AOF rewrite) falls on
// both sides alike instead of on whichever ran at that moment.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const hoist = { n: 0, bad: 0, lat: [], cpu: 0 };
const reference = { n: 0, bad: 0, lat: [], cpu: 0 };
for (let r = 0; r < ROUNDS; r++) {
  for (const [side, target] of [
    [hoist, hoistUrl],
    [reference, refUrl],
  ]) {
    const cpuBefore = await redisCpu();
    const slice = await closedLoop(target, token, SECONDS / ROUNDS);
    side.cpu += (await redisCpu()) - cpuBefore;
    side.n += slice.n;
    side.bad += slice.bad;
    side.lat.push(...slice.lat);
  }
}
for (const side of [hoist, reference]) {
  side.rate = side.n / SECONDS;
  side.p99 = p99(side.lat);
}
console.log(`hoist:     ${hoist.n} requests, ${fmt(hoist.rate)}/s, p99 ${fmt(hoist.p99)} ms, non-202 ${hoist.bad}`);
console.log(`reference: ${reference.n} requests, ${fmt(reference.rate)}/s, p99 ${fmt(reference.p99)} ms, non-202 ${reference.bad}`);
console.log(
  `Redis CPU per request: hoist ${((1e6 * hoist.cpu) / hoist.n).toFixed(0)} µs, reference ${((1e6 * reference.cpu) / reference.n).toFixed(0)} µs`,
);
const hoistRate = await fixedRate(hoistUrl, token, RATE, RATE_SECONDS);
const refRate = await fixedRate(refUrl, token, RATE, RATE_SECONDS);
console.log(
  `at ${RATE}/s: hoist p99 ${fmt(hoistRate.p99)} ms (non-202 ${hoistRate.bad}); reference p99 ${fmt(refRate.p99)} ms (non-202 ${refRate.bad})`,
);

for (const c of children) c.kill("SIGTERM");
const cleanup = new Redis(url);
for (const p of [`${prefix}-hoist`, `${prefix}-ref`]) {
  let cursor = "0";
  do {
    const [next, keys] = await cleanup.scan(cursor, "MATCH", `${p}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await cleanup.del(...keys);
  } while (cursor !== "0");
}
cleanup.disconnect();
redisChild?.kill("SIGTERM");
agent.destroy();
void ref;
console.log(
  `bench ingress: hoist ${fmt(hoist.rate)}/s p99 ${fmt(hoist.p99)} ms; reference ${fmt(reference.rate)}/s p99 ${fmt(reference.p99)} ms; ratio ${(hoist.rate / reference.rate).toFixed(2)}`,
);
process.exit(hoist.bad + reference.bad > 0 ? 1 : 0);
