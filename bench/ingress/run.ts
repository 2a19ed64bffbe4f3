// pnpm bench:ingress — Hoist's webhook endpoint (the real API process) against a reference
// receiver (bare node:http + BullMQ, reference-server.mjs) on the same Redis, each at a fixed
// concurrency for a fixed time, then each at a fixed rate. Two Hoist apps: one as real teams set
// it up — linked to GitLab (through the API, against the GitLab test server), with Slack and an
// outgoing webhook, so that its "pending" notify jobs are queued before the 202 — against a
// reference that checks the token and queues the same jobs; and a minimal app against a bare
// queue.add (the line above the last). Every request is a distinct GitLab push (its own
// Idempotency-Key and commit). Method: docs/benchmarks.md.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { deployKeyRoutes } from "../../test/support/gitlab/deploy-keys.js";
import { hookRoutes } from "../../test/support/gitlab/hooks.js";
import { projectRoutes } from "../../test/support/gitlab/projects.js";
import { startGitlabServer } from "../../test/support/gitlab/server.js";
import { statusRoutes } from "../../test/support/gitlab/statuses.js";
import { userRoutes } from "../../test/support/gitlab/users.js";
import { passwordsIn } from "../../test/support/redis-acl.js";
import { freePort, post } from "../support/http.js";
import { pushHook } from "../support/push-hook.js";
import { serviceRedisUrls } from "../support/redis-users.js";

const here = import.meta.dirname;
const root = resolve(here, "..", "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// Pushes spread over this many branches. Nothing consumes the queued builds here, so a push to a
// branch with a queued build supersedes it (cancel, announce, more notify jobs); with the default
// most pushes land on a fresh branch, as in a team's ordinary traffic.
const BRANCHES = Number(process.env.BENCH_BRANCHES ?? 100_000);
const API_TOKEN = randomBytes(24).toString("hex");

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

function startProcess(args: string[], env: Record<string, string>, readyLine: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  return new Promise((resolveStart, reject) => {
    const onData = (d: Buffer) => {
      // Only the start-up is kept: the API logs every request at info.
      if (out.length > 100_000) return;
      out += d.toString();
      if (readyLine.test(out)) resolveStart(child);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}:\n${out}`)));
  });
}

// One keep-alive agent per phase: a socket left idle between phases may be closed by the server
// (its keep-alive timeout) just as the next phase reuses it, which would show up as ECONNRESET.
let agent = new Agent({ keepAlive: true, maxSockets: 256 });
function freshAgent(): void {
  agent.destroy();
  agent = new Agent({ keepAlive: true, maxSockets: 256 });
}

let seq = 0;
function pushDelivery(token: string) {
  return pushHook({
    token,
    branch: `feature/${seq++ % BRANCHES}`,
    sha: randomBytes(20).toString("hex"),
    before: randomBytes(20).toString("hex"),
  });
}

/** Each non-202 answer, by status and body, printed at the end. */
const badAnswers = new Map<string, number>();
function noteBad(res: { status: number; body: string }): void {
  const key = `${res.status} ${res.body.slice(0, 200)}`;
  badAnswers.set(key, (badAnswers.get(key) ?? 0) + 1);
}

function p99(lat: number[]): number {
  const s = [...lat].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)] ?? Number.NaN;
}

/** Closed loop: CONCURRENCY clients, each sending its next request when the last is answered. */
async function closedLoop(url: string, token: string, seconds: number) {
  freshAgent();
  const lat: number[] = [];
  let bad = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const d = pushDelivery(token);
        const t0 = performance.now();
        const res = await post(agent, url, d.headers, d.body);
        lat.push(performance.now() - t0);
        if (res.status !== 202) {
          noteBad(res);
          bad++;
        }
      }
    }),
  );
  return { n: lat.length, bad, lat };
}

/** Open loop at a fixed rate; latency from each request's scheduled start (no coordinated omission). */
async function fixedRate(url: string, token: string, rate: number, seconds: number) {
  freshAgent();
  const lat: number[] = [];
  let bad = 0;
  const total = rate * seconds;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const d = pushDelivery(token);
    pending.push(
      post(agent, url, d.headers, d.body).then((res) => {
        lat.push(performance.now() - due);
        if (res.status !== 202) {
          noteBad(res);
          bad++;
        }
      }),
    );
  }
  await Promise.all(pending);
  return { p99: p99(lat), n: lat.length, bad };
}

type AppCreated = { webhook: { url: string; token: string } };

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

// ---- real components on loopback: Redis, and an sshd for the git host the link scans ----
const svcDir = mkdtempSync(join(tmpdir(), "hoist-bench-ingress-"));
const envText = execFileSync("bash", [join(root, "scripts/services-up.sh")], {
  env: { ...process.env, W: svcDir, SERVICES: process.env.REDIS_URL ? "sshd" : "redis sshd" },
  stdio: ["ignore", "pipe", "inherit"],
  encoding: "utf8",
});
const env: Record<string, string> = {};
for (const m of envText.matchAll(/^export (\w+)="(.*)"$/gm)) env[m[1] as string] = m[2] as string;
const url = process.env.REDIS_URL ?? (env.REDIS_URL as string);
const redisUrls = serviceRedisUrls(url, passwordsIn(process.env.REDIS_URL ? process.env : env));
const stopServices = () => {
  execFileSync("bash", [join(root, "scripts/services-down.sh")], { env: { ...process.env, W: svcDir }, stdio: "ignore" });
  rmSync(svcDir, { recursive: true, force: true });
};
const prefix = `bench-${randomBytes(4).toString("hex")}`;
const refToken = randomBytes(24).toString("hex");
const gitlab = await startGitlabServer([userRoutes, projectRoutes, hookRoutes, deployKeyRoutes, statusRoutes]);
let failed = 0;
try {
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const nodeArgs = process.env.BENCH_API_NODE_ARGS ? process.env.BENCH_API_NODE_ARGS.split(" ") : [];
  await startProcess(
    [...nodeArgs, join(root, "services/api/dist/main.js")],
    {
      REDIS_URL: redisUrls.api,
      HOIST_PORT: String(apiPort),
      HOIST_HOST: "127.0.0.1",
      HOIST_API_TOKEN: API_TOKEN,
      HOIST_LOG_LEVEL: "info",
      HOIST_QUEUE_PREFIX: `${prefix}-hoist`,
      HOIST_DATA_DIR: join(svcDir, "hoist-data"),
      HOIST_PUBLIC_URL: apiUrl,
      // The GitLab test server and the outgoing webhook are on loopback: allowed, as a team
      // running its GitLab on the same host would allow it.
      HOIST_OUTBOUND_ALLOW: "127.0.0.1",
    },
    /"msg":"ready"/,
  );
  const refPort = await freePort();
  await startProcess(
    [join(here, "reference-server.mjs")],
    { REDIS_URL: url, PORT: String(refPort), PREFIX: `${prefix}-ref`, TOKEN: refToken },
    /ready/,
  );

  const hoistApi = async <T>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${apiUrl}/v1${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as T;
    if (res.status >= 300) throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const minimal = await hoistApi<AppCreated>("/apps", {
    name: "bench-minimal",
    branch: "*",
    repo: { sshUrl: "git@gitlab.example.com:acme/web.git" },
  });

  // The linked app, the way a team sets it up: created with Slack and an outgoing webhook, then
  // linked to its GitLab project (hook, read-only deploy key, the git host's keys scanned). Its
  // webhook token is the one Hoist gave GitLab's hook. No notifier runs: the jobs only queue.
  const gitlabToken = `glpat-${randomBytes(10).toString("hex")}`;
  const bot = gitlab.state.addUser("hoist-bot", gitlabToken);
  // Hoist's hook URL is on 127.0.0.1: GitLab's admin setting for that is on, as such a team's would be.
  gitlab.state.settings.allowLocalRequestsFromWebHooksAndServices = true;
  const project = gitlab.state.addProject(
    {
      path_with_namespace: "acme/web",
      default_branch: "main",
      ssh_url_to_repo: `ssh://git@127.0.0.1:${env.HOIST_TEST_SSH_PORT}/acme/web.git`,
    },
    gitlab.url,
  );
  gitlab.state.addMember(project, bot, "maintainer");
  const linkedApp = await hoistApi<AppCreated>("/apps", {
    name: "bench-linked",
    branch: "*",
    repo: { sshUrl: "git@placeholder:acme/web.git" },
    slackWebhookUrl: "https://hooks.slack.com/services/T000/B000/bench",
    outgoingWebhook: { url: "http://127.0.0.1:9/hoist-events" },
  });
  const conn = await hoistApi<{ connection: { id: string } }>("/gitlab/connections", { url: gitlab.url, token: gitlabToken });
  await hoistApi<unknown>("/apps/bench-linked/gitlab/link", { connection: conn.connection.id, projectId: project.id });
  const hook = gitlab.state.hooks.find((h) => h.url === linkedApp.webhook.url);
  if (!hook?.token) throw new Error(`the link left no hook with a token for ${linkedApp.webhook.url} on the GitLab test server`);

  const refUrl = `http://127.0.0.1:${refPort}`;
  const configs = [
    {
      name: "minimal app",
      notifyJobsPerPush: 0,
      reference: "bare queue.add",
      hoist: { url: minimal.webhook.url, token: minimal.webhook.token },
      ref: { url: `${refUrl}/webhook`, token: refToken },
    },
    {
      name: "linked app: GitLab, Slack, outgoing webhook",
      notifyJobsPerPush: 2,
      reference: "token check, build + 2 notify jobs",
      hoist: { url: linkedApp.webhook.url, token: hook.token },
      ref: { url: `${refUrl}/webhook/notify`, token: refToken },
    },
  ];

  console.log(
    `bench ingress: per app setup, ${SECONDS} s at concurrency ${CONCURRENCY} (in ${ROUNDS} alternating slices), then ${RATE_SECONDS} s at ${RATE}/s, each side; Redis ${new URL(url).host}, the API as its own ACL user`,
  );
  const redisCpu = async () => {
    const probe = new Redis(url);
    const info = await probe.info("cpu");
    probe.disconnect();
    return Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]);
  };
  const notifyRedis = new Redis(url, { maxRetriesPerRequest: null });
  const hoistNotify = new Queue("notify", { connection: notifyRedis, prefix: `${prefix}-hoist` });
  const lines: string[] = [];
  for (const c of configs) {
    const notifyBefore = await hoistNotify.count();
    const warm = await closedLoop(c.hoist.url, c.hoist.token, 1);
    await closedLoop(c.ref.url, c.ref.token, 1);
    // Alternating slices (hoist, reference, hoist, ...), so a passing disturbance on a shared
    // machine (another process, a Redis AOF rewrite) falls on both sides alike.
    const hoist = { n: 0, bad: 0, lat: [] as number[], cpu: 0 };
    const reference = { n: 0, bad: 0, lat: [] as number[], cpu: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [side, target] of [
        [hoist, c.hoist],
        [reference, c.ref],
      ] as const) {
        const cpuBefore = await redisCpu();
        const slice = await closedLoop(target.url, target.token, SECONDS / ROUNDS);
        side.cpu += (await redisCpu()) - cpuBefore;
        side.n += slice.n;
        side.bad += slice.bad;
        side.lat.push(...slice.lat);
      }
    }
    const [hr, rr] = [hoist.n / SECONDS, reference.n / SECONDS];
    const [hp, rp] = [p99(hoist.lat), p99(reference.lat)];
    console.log(`${c.name}:`);
    console.log(`  hoist:     ${hoist.n} requests, ${fmt(hr)}/s, p99 ${fmt(hp)} ms, non-202 ${hoist.bad}`);
    console.log(`  reference (${c.reference}): ${reference.n} requests, ${fmt(rr)}/s, p99 ${fmt(rp)} ms, non-202 ${reference.bad}`);
    console.log(
      `  Redis CPU per request: hoist ${((1e6 * hoist.cpu) / hoist.n).toFixed(0)} µs, reference ${((1e6 * reference.cpu) / reference.n).toFixed(0)} µs`,
    );
    const hoistRate = await fixedRate(c.hoist.url, c.hoist.token, RATE, RATE_SECONDS);
    const refRate = await fixedRate(c.ref.url, c.ref.token, RATE, RATE_SECONDS);
    console.log(
      `  at ${RATE}/s: hoist p99 ${fmt(hoistRate.p99)} ms (non-202 ${hoistRate.bad}); reference p99 ${fmt(refRate.p99)} ms (non-202 ${refRate.bad})`,
    );
    failed += hoist.bad + reference.bad + hoistRate.bad + refRate.bad + warm.bad;
    // The comparison holds only if Hoist did the work its line names: one "pending" notify job
    // per configured destination for every push it accepted (none for the minimal app).
    // A push answered other than 202 may have queued its jobs or not (GitLab would send it again).
    const sent = warm.n + hoist.n + hoistRate.n;
    const accepted = sent - warm.bad - hoist.bad - hoistRate.bad;
    const queued = (await hoistNotify.count()) - notifyBefore;
    const k = c.notifyJobsPerPush;
    if (queued < accepted * k || queued > sent * k) {
      throw new Error(`${c.name}: Hoist queued ${queued} notify jobs for ${accepted} pushes accepted of ${sent}; expected ${k} per push`);
    }
    lines.push(
      `hoist (${c.name}) ${fmt(hr)}/s p99 ${fmt(hp)} ms; reference (${c.reference}) ${fmt(rr)}/s p99 ${fmt(rp)} ms; ratio ${(hr / rr).toFixed(2)}`,
    );
  }
  await hoistNotify.close();
  notifyRedis.disconnect();
  // The minimal path first; the last line is the linked app's.
  console.log(`bench ingress (minimal): ${lines[0]}`);
  console.log(`bench ingress: ${lines[1]}`);
} finally {
  for (const c of children) c.kill("SIGTERM");
  agent.destroy();
  await gitlab.close();
  stopServices();
}
if (failed > 0) {
  console.error(`bench ingress: ${failed} requests were not answered 202:`);
  for (const [answer, n] of badAnswers) console.error(`  ${n}× ${answer}`);
  process.exit(1);
}
process.exit(0);
