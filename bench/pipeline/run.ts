// pnpm bench:pipeline — what Hoist adds between the stages of a push, with the build and deploy
// steps replaced by instant ones through the services' own dependency injection (the builder's
// `runPipeline`, the deployer's `targetFor`), beside a bare three-queue BullMQ chain on the same
// Redis in the same run. Then one builder against two, with slow (sleeping) builds.
//
// Hoist side: the real API process takes GitLab Push Hooks; the builder, deployer and notifier job
// handlers run here as BullMQ workers on their own connections, composed as their main.ts does,
// with the real Redis records, queues, secret box, sent markers and Slack client. Only the clone/
// build/push and the rollout are instant. Both sides post their "live" message to one receiver.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, request } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  type App,
  type Build,
  createLogger,
  createRedis,
  createWorker,
  type Image,
  JobQueues,
  LocalSecretBox,
  Records,
  type Redis,
} from "@hoist/shared";
import Docker from "dockerode";
import { Cancellations } from "../../services/builder/src/adapters/cancellations.js";
import { releaseIdFor } from "../../services/builder/src/jobs/build-job.js";
import { handlers as buildHandlers } from "../../services/builder/src/jobs/handlers.js";
import { RedisStreamReleaseLog } from "../../services/deployer/src/adapters/release-log.js";
import { handlers as deployHandlers } from "../../services/deployer/src/jobs/handlers.js";
import { deployPorts } from "../../services/deployer/src/jobs/ports.js";
import { SentMarkers } from "../../services/notifier/src/adapters/sent-marker.js";
import { handlers as notifyHandlers } from "../../services/notifier/src/jobs/handlers.js";
import { startReferenceChain } from "./reference.js";
import { atFixedRate, emptyStamps, fmt, handoffs, pct, type Stamps, samplesOf, summary, worstHandoffP99 } from "./stats.js";

const root = resolve(import.meta.dirname, "..", "..");
const RATE = Number(process.env.BENCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const APPS = Number(process.env.BENCH_APPS ?? 20);
const SLOW_BUILD_MS = Number(process.env.BENCH_SLOW_BUILD_MS ?? 500);
const SLOW_BUILDS = Number(process.env.BENCH_SLOW_BUILDS ?? 40);
const SCALE_CONCURRENCY = Number(process.env.BENCH_SCALE_CONCURRENCY ?? 2);

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});
const log = createLogger({ service: "bench", level: process.env.BENCH_LOG_LEVEL ?? "error" });
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

async function freePort(): Promise<number> {
  const srv = createNetServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function startProcess(args: string[], env: Record<string, string>, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(args[0] as string, args.slice(1), {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  return new Promise((res, rej) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) res(child);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => rej(new Error(`${args.join(" ")} exited ${code}:\n${out}`)));
  });
}

/** REDIS_URL, or a private redis-server for the run (AOF everysec, noeviction, as `pnpm start`). */
async function redisUrl(dir: string): Promise<string> {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  const port = await freePort();
  await startProcess(
    [
      "redis-server",
      ...["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "yes"],
      ...["--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--dir", dir],
    ],
    {},
    /Ready to accept/,
  );
  return `redis://127.0.0.1:${port}`;
}

function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
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
      (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => res({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", rej);
    req.end(body);
  });
}

/** The Slack receiver both sides post their "live" message to; it stamps when each arrives. */
async function startSlackReceiver(onLive: (side: "hoist" | "reference", text: string, at: number) => void) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      const text = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { text?: string }).text ?? "";
      onLive(req.url === "/services/T0/B0/hoist" ? "hoist" : "reference", text, at);
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { hoistUrl: `${base}/services/T0/B0/hoist`, referenceUrl: `${base}/services/T0/B0/reference`, close: () => server.close() };
}

function pushHook(token: string, branch: string, sha: string) {
  return {
    headers: {
      "content-type": "application/json",
      "x-gitlab-event": "Push Hook",
      "x-gitlab-token": token,
      "idempotency-key": randomUUID(),
      "x-gitlab-webhook-uuid": randomUUID(),
    },
    body: JSON.stringify({
      object_kind: "push",
      event_name: "push",
      before: "0".repeat(40),
      after: sha,
      ref: `refs/heads/${branch}`,
      checkout_sha: sha,
      user_name: "Bench",
      user_username: "bench",
      project_id: 15,
      project: { id: 15, path_with_namespace: "acme/web", default_branch: "main", git_ssh_url: "git@127.0.0.1:acme/web.git" },
      commits: [
        {
          id: sha,
          message: "Bench commit\n",
          title: "Bench commit",
          timestamp: new Date().toISOString(),
          url: `http://127.0.0.1/acme/web/-/commit/${sha}`,
          author: { name: "Bench", email: "b@example.com" },
        },
      ],
      total_commits_count: 1,
    }),
  };
}

interface HoistWorld {
  url: string;
  prefix: string;
  records: Records;
  queues: JobQueues;
  secrets: LocalSecretBox;
  apps: { name: string; hookUrl: string; token: string }[];
  connection: () => Redis;
  conns: Redis[];
}

/** The builder's job handlers as its main.ts composes them, with `build` as the pipeline. */
function startBuilder(
  w: HoistWorld,
  concurrency: number,
  build: (app: App, b: Build) => Promise<Image[]>,
  onActive?: (id: string) => void,
) {
  const inner = buildHandlers({
    redis: w.connection(),
    prefix: w.prefix,
    records: w.records,
    queues: w.queues,
    cancellations: new Cancellations(),
    logMaxLines: 1000,
    log,
    pipeline: {
      docker: new Docker(),
      secrets: w.secrets,
      workDir: tmpdir(),
      pushTarget: async () => ({ prefix: "bench", insecure: true }),
    },
    runPipeline: (app, b) => build(app, b),
  });
  return createWorker({
    queue: "build",
    connection: w.connection(),
    prefix: w.prefix,
    concurrency,
    log,
    handlers: {
      build: (payload, ctx) => {
        onActive?.(payload.buildId);
        return inner.build(payload, ctx);
      },
    },
  });
}

async function hoistPhase(w: HoistWorld, stamps: Stamps): Promise<void> {
  const bySha = new Map<string, string>();
  const instant = async (app: App, b: Build): Promise<Image[]> => [{ service: "web", tag: `bench/${app.name}:web.${b.number}` }];
  const builder = startBuilder(w, CONCURRENCY, instant, (id) => stamps.buildActive.set(id, Date.now()));
  const redis = w.connection();
  const ports = deployPorts({
    redis,
    prefix: w.prefix,
    records: w.records,
    queues: w.queues,
    secrets: w.secrets,
    docker: new Docker(),
    ecs: () => {
      throw new Error("no ECS in the bench");
    },
    releaseLog: new RedisStreamReleaseLog(redis, w.prefix),
    lockTtlMs: 30_000,
    ecsPollMs: 5000,
    ecsTimeoutS: 900,
    stopTimeoutS: 1,
  });
  const deployInner = deployHandlers({
    log,
    lockRetryMs: 2000,
    ports: { ...ports, targetFor: () => ({ deploy: async () => ({ ok: true }) }) },
  });
  const deployer = createWorker({
    queue: "deploy",
    connection: w.connection(),
    prefix: w.prefix,
    concurrency: CONCURRENCY,
    log,
    handlers: {
      deploy: (payload, ctx) => {
        stamps.deployActive.set(payload.releaseId, Date.now() - ctx.job.timestamp);
        return deployInner.deploy(payload, ctx);
      },
    },
  });
  const notifyInner = notifyHandlers({
    log,
    records: w.records,
    secrets: w.secrets,
    markers: new SentMarkers(w.connection(), w.prefix),
    publicUrl: w.url,
  });
  const notifier = createWorker({
    queue: "notify",
    connection: w.connection(),
    prefix: w.prefix,
    concurrency: CONCURRENCY,
    log,
    handlers: {
      ...notifyInner,
      slack: (payload, ctx) => {
        if (payload.event === "release.live" && payload.releaseId) {
          stamps.notifyQueued.set(payload.releaseId, ctx.job.timestamp);
          notifyWait.push(Date.now() - ctx.job.timestamp);
        }
        return notifyInner.slack(payload, ctx);
      },
    },
  });
  await Promise.all([builder, deployer, notifier].map((x) => x.waitUntilReady()));
  liveHandlers.hoist = (text, at) => {
    const short = /^\S+ ([0-9a-f]{8}) is live/.exec(text)?.[1];
    const id = short ? bySha.get(short) : undefined;
    if (id) stamps.liveAt.set(id, at);
  };
  const expected = Math.round(RATE * SECONDS);
  const allLive = waitUntil(() => stamps.liveAt.size >= expected, 60_000 + SECONDS * 1000);
  await atFixedRate(RATE, SECONDS, async (i) => {
    const app = w.apps[i % w.apps.length] as HoistWorld["apps"][number];
    const sha = randomBytes(20).toString("hex");
    const hook = pushHook(app.token, `bench/${i}`, sha);
    const sent = Date.now();
    const res = await post(app.hookUrl, hook.headers, hook.body);
    const accepted = Date.now();
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${res.body}`);
    const buildId = (JSON.parse(res.body) as { buildId: string }).buildId;
    bySha.set(sha.slice(0, 8), buildId);
    stamps.sentAt.set(buildId, sent);
    stamps.acceptedAt.set(buildId, accepted);
  });
  await allLive.catch((err: Error) => console.error(`hoist: ${err.message} (${stamps.liveAt.size}/${expected} live)`));
  await Promise.all([builder.close(), deployer.close(), notifier.close()]);
  // Deploy stamps are keyed by release id; the rest by build id.
  const byRelease = new Map([...stamps.acceptedAt.keys()].map((b) => [releaseIdFor(b), b]));
  for (const m of [stamps.deployActive, stamps.notifyQueued]) {
    for (const [rel, v] of [...m]) {
      m.delete(rel);
      m.set(byRelease.get(rel) ?? rel, v);
    }
  }
}

/** Of deploy done → notify sent: how long the "live" job waited in the notify queue before it ran. */
const notifyWait: number[] = [];

const liveHandlers: { hoist?: (text: string, at: number) => void; reference?: (text: string, at: number) => void } = {};

function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((res, rej) => {
    const deadline = Date.now() + timeoutMs;
    // Only the bench's own completion check polls (the pipelines under test never do).
    const timer = setInterval(() => {
      if (done()) {
        clearInterval(timer);
        res();
      } else if (Date.now() > deadline) {
        clearInterval(timer);
        rej(new Error(`not all pushes went live within ${timeoutMs} ms`));
      }
    }, 50);
  });
}

async function referencePhase(connection: () => Redis, prefix: string, slackUrl: string, stamps: Stamps): Promise<void> {
  const chain = await startReferenceChain({ connection, prefix, concurrency: CONCURRENCY, slackUrl, stamps });
  liveHandlers.reference = (text, at) => {
    const id = /^(\S+) is live/.exec(text)?.[1];
    if (id) stamps.liveAt.set(id, at);
  };
  const expected = Math.round(RATE * SECONDS);
  const allLive = waitUntil(() => stamps.liveAt.size >= expected, 60_000 + SECONDS * 1000);
  await atFixedRate(RATE, SECONDS, async () => {
    const id = randomUUID();
    const sent = Date.now();
    const res = await post(chain.url, { "content-type": "application/json" }, JSON.stringify({ id }));
    if (res.status !== 202) throw new Error(`reference answered ${res.status}`);
    stamps.sentAt.set(id, sent);
    stamps.acceptedAt.set(id, Date.now());
  });
  await allLive.catch((err: Error) => console.error(`reference: ${err.message}`));
  await chain.close();
}

/** Slow builds (sleeping `SLOW_BUILD_MS`) queued up front, then drained by `builders` builder workers. */
async function scalePhase(w: HoistWorld, builders: number): Promise<number> {
  const ids: string[] = [];
  for (let i = 0; i < SLOW_BUILDS; i++) {
    const app = w.apps[i % w.apps.length] as HoistWorld["apps"][number];
    const res = await fetch(`${w.url}/v1/apps/${app.name}/builds`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ ref: `refs/heads/scale/${builders}/${i}`, sha: randomBytes(20).toString("hex") }),
    });
    const body = (await res.json()) as { build?: { id: string }; id?: string };
    const id = body.build?.id ?? body.id;
    if (res.status !== 201 && res.status !== 202) throw new Error(`POST builds answered ${res.status}: ${JSON.stringify(body)}`);
    if (!id) throw new Error(`POST builds gave no id: ${JSON.stringify(body)}`);
    ids.push(id);
  }
  const done = new Set<string>();
  let allDone!: () => void;
  const finished = new Promise<void>((r) => {
    allDone = r;
  });
  const slow = async (app: App, b: Build): Promise<Image[]> => {
    await new Promise((r) => setTimeout(r, SLOW_BUILD_MS));
    return [{ service: "web", tag: `bench/${app.name}:web.${b.number}` }];
  };
  const t0 = performance.now();
  const workers = Array.from({ length: builders }, () => startBuilder(w, SCALE_CONCURRENCY, slow));
  for (const worker of workers) {
    worker.on("completed", (job) => {
      if (job.id && ids.includes(job.id)) done.add(job.id);
      if (done.size === ids.length) allDone();
    });
  }
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(workers.map((x) => x.close()));
  const perSecond = ids.length / seconds;
  console.log(
    `scale: ${builders} builder${builders > 1 ? "s" : ""} × concurrency ${SCALE_CONCURRENCY}: ${ids.length} builds of ${SLOW_BUILD_MS} ms in ${seconds.toFixed(2)} s = ${perSecond.toFixed(2)} builds/s`,
  );
  return perSecond;
}

const apiToken = randomBytes(24).toString("hex");

/** Runs `fn` under the V8 CPU profiler when BENCH_PROFILE_DIR is set (a .cpuprofile of that phase only). */
async function profiled(name: string, fn: () => Promise<void>): Promise<void> {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return fn();
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    await fn();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

/** Commands Redis has executed so far (INFO commandstats), to compare the work per push of each side. */
async function redisCalls(redis: Redis): Promise<number> {
  const info = await redis.info("commandstats");
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hoist-bench-pipeline-"));
  try {
    const url = await redisUrl(dir);
    console.error(`redis ${url}`);
    const conns: Redis[] = [];
    const connection = () => {
      const c = createRedis(url, "worker");
      conns.push(c);
      return c;
    };
    const masterKey = randomBytes(32);
    writeFileSync(join(dir, "master.key"), masterKey.toString("base64"), { mode: 0o600 });
    const slack = await startSlackReceiver((side, text, at) => liveHandlers[side]?.(text, at));

    const run = `${Date.now().toString(36)}`;
    const prefix = `bench-pipeline-${run}`;
    const apiPort = await freePort();
    await startProcess(
      [process.execPath, join(root, "services/api/dist/main.js")],
      {
        REDIS_URL: url,
        HOIST_QUEUE_PREFIX: prefix,
        HOIST_PORT: String(apiPort),
        HOIST_HOST: "127.0.0.1",
        HOIST_API_TOKEN: apiToken,
        HOIST_PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
        HOIST_DATA_DIR: dir,
        HOIST_MASTER_KEY_FILE: join(dir, "master.key"),
        HOIST_LOG_LEVEL: "info",
      },
      /"msg":"ready"/,
    );
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    console.error(`api ${apiUrl}`);
    const producer = createRedis(url, "producer");
    const w: HoistWorld = {
      url: apiUrl,
      prefix,
      records: new Records(producer, prefix),
      queues: new JobQueues(producer, prefix),
      secrets: new LocalSecretBox(masterKey),
      apps: [],
      connection,
      conns,
    };
    for (let i = 0; i < APPS; i++) {
      const res = await fetch(`${apiUrl}/v1/apps`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({
          name: `bench-${i}`,
          branch: "*",
          repo: { sshUrl: "git@127.0.0.1:acme/web.git" },
          target: { kind: "local", services: {} },
          slackWebhookUrl: slack.hoistUrl,
        }),
      });
      const body = (await res.json()) as { app: { name: string }; webhook: { url: string; token: string } };
      if (res.status !== 201) throw new Error(`POST /v1/apps answered ${res.status}: ${JSON.stringify(body)}`);
      w.apps.push({ name: body.app.name, hookUrl: body.webhook.url, token: body.webhook.token });
    }

    console.log(`bench pipeline: ${RATE} pushes/s for ${SECONDS} s, worker concurrency ${CONCURRENCY}, ${APPS} apps, Redis ${url}`);
    const ref = emptyStamps();
    const calls0 = await redisCalls(producer);
    const cpu0 = process.cpuUsage();
    await referencePhase(connection, `bench-ref-${run}`, slack.referenceUrl, ref);
    const cpu1 = process.cpuUsage();
    const calls1 = await redisCalls(producer);
    const hoist = emptyStamps();
    await profiled("hoist", () => hoistPhase(w, hoist));
    const cpu2 = process.cpuUsage();
    const calls2 = await redisCalls(producer);
    const pushes = Math.round(RATE * SECONDS);
    const cpuMs = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user + b.system - a.user - a.system) / 1000 / pushes;
    console.log(
      `worker CPU per push (this process: the workers, and the client): hoist ${cpuMs(cpu1, cpu2).toFixed(2)} ms, reference ${cpuMs(cpu0, cpu1).toFixed(2)} ms`,
    );
    console.log(
      `Redis commands per push (with those inside scripts and idle polls): hoist ${((calls2 - calls1) / pushes).toFixed(0)}, reference ${((calls1 - calls0) / pushes).toFixed(0)}`,
    );
    const h = samplesOf(hoist);
    const r = samplesOf(ref);
    console.log(summary("hoist", h));
    console.log(`  (of deploy → notify: queued p50 ${fmt(pct(notifyWait, 0.5))} p99 ${fmt(pct(notifyWait, 0.99))} ms before the job ran)`);
    console.log(summary("reference (bare BullMQ chain)", r));
    for (const k of handoffs) {
      const ratio = pct(h[k], 0.99) / pct(r[k], 0.99);
      console.log(`  ${k} p99 ratio ${ratio.toFixed(2)}${ratio <= 1.5 ? "" : " (over the 1.5× target)"}`);
    }

    const one = await scalePhase(w, 1);
    const two = await scalePhase(w, 2);

    slack.close();
    for (const c of [...conns, producer]) c.disconnect();
    const hw = worstHandoffP99(h);
    const rw = worstHandoffP99(r);
    console.log(`bench pipeline: handoff p99 ${fmt(hw)} ms; reference ${fmt(rw)} ms; ratio ${(hw / rw).toFixed(2)}`);
    console.log(`bench scale: 2 builders / 1 = ${(two / one).toFixed(2)}`);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
