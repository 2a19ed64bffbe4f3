// pnpm bench:pipeline — what Hoist adds between the stages of a push, with the build and deploy
// steps replaced by instant ones through the services' own dependency injection (the builder's
// `runPipeline`, the deployer's `targetFor`), beside a bare three-queue BullMQ chain on the same
// Redis in the same run. Then one builder against two, with slow (sleeping) builds.
//
// Hoist side: the real API process takes GitLab Push Hooks; the builder, deployer and notifier run
// each in a process of its own, as in production, composed as their main.ts does (compose.ts), with
// the real Redis records, queues, secret box, sent markers and Slack client. Only the clone/build/
// push and the rollout are instant. The reference runs its HTTP endpoint and its three stages in
// four processes too. Both sides post their "live" message to one receiver, in this process.
import { type ChildProcess, fork, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, request } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type App, type Build, createRedis, type Image, JobQueues, Records, type Redis } from "@hoist/shared";
import { releaseIdFor } from "../../services/builder/src/jobs/build-job.js";
import { type HoistWorld, hoistWorld, startBuilder } from "./compose.js";
import { atFixedRate, emptyStamps, fmt, handoffs, pct, type Stamps, samplesOf, summary, worstHandoffP99 } from "./stats.js";
import type { ProcessMessage, Role } from "./worker-process.js";

const root = resolve(import.meta.dirname, "..", "..");
const RATE = Number(process.env.BENCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const APPS = Number(process.env.BENCH_APPS ?? 20);
const SLOW_BUILD_MS = Number(process.env.BENCH_SLOW_BUILD_MS ?? 500);
const SLOW_BUILDS = Number(process.env.BENCH_SLOW_BUILDS ?? 40);
const SCALE_CONCURRENCY = Number(process.env.BENCH_SCALE_CONCURRENCY ?? 2);
// "processes": each worker (and the reference's HTTP endpoint and each stage) in a process of its
// own, as production runs the services; "single": each side's workers share one process.
const LAYOUT = process.env.BENCH_LAYOUT ?? "processes";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
// Node flags for every process of both sides (the API, the reference's endpoint, all workers).
// V8's memory reducer compacts the heap of a process that has gone idle; the alternation below
// idles each side's processes while the other side is measured, so without this flag a side's
// slice can open with a 20-60 ms compaction that steady traffic would not have. "" turns it off.
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? "--no-memory-reducer").split(" ").filter(Boolean);
// "alternate": the sides take turns (each measured alone); "together": both at once, each at RATE.
const SCHEDULE = process.env.BENCH_SCHEDULE ?? "alternate";
if (SCHEDULE !== "alternate" && SCHEDULE !== "together")
  throw new Error(`BENCH_SCHEDULE must be "alternate" or "together", not ${SCHEDULE}`);
if (LAYOUT !== "processes" && LAYOUT !== "single") throw new Error(`BENCH_LAYOUT must be "processes" or "single", not ${LAYOUT}`);
const layout = (roles: Role[]): Role[][] => (LAYOUT === "single" ? [roles] : roles.map((r) => [r]));

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});
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

interface Apps {
  records: Records;
  queues: JobQueues;
  url: string;
  apps: { name: string; hookUrl: string; token: string }[];
}

/** A worker process (worker-process.ts) whose stamps land in `stamps`; resolves once it is ready. */
async function startWorkerProcess(
  roles: Role[],
  env: Record<string, string>,
  stamps: Stamps,
  cpu: { ms: number },
): Promise<{ url?: string; stop: () => Promise<void> }> {
  const profile = process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const child = fork(join(import.meta.dirname, "worker-process.ts"), [], {
    execArgv: ["--import", "tsx", ...profile, ...NODE_ARGS],
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      BENCH_ROLES: roles.join(","),
      BENCH_CONCURRENCY: String(CONCURRENCY),
      ...env,
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.push(child);
  let stopped!: () => void;
  const done = new Promise<void>((r) => {
    stopped = r;
  });
  const ready = new Promise<{ url?: string }>((res, rej) => {
    child.on("message", (m: ProcessMessage) => {
      if (m.t === "ready") res(m.url ? { url: m.url } : {});
      else if (m.t === "stamps") for (const [map, id, v] of m.rows) stamps[map].set(id, v);
      else if (m.t === "stopped") {
        cpu.ms += m.cpuMs;
        stopped();
      }
    });
    child.once("exit", (code) => {
      rej(new Error(`${roles.join(",")} worker process exited ${code}`));
      stopped();
    });
  });
  const info = await ready;
  return {
    ...info,
    stop: async () => {
      child.send({ t: "stop" });
      await done;
    },
  };
}

/** One side of the comparison: its processes are up for the whole run; traffic comes in slices. */
interface Side {
  name: string;
  /** Says where the pushes that did not end are stuck (records, jobs). */
  explain?: (ids: string[]) => Promise<string>;
  stamps: Stamps;
  cpu: { ms: number };
  /** Pushes that ended (live, or failed: a newer release of the app superseded it). */
  ended: Set<string>;
  /** Redis commands run during this side's measured slices. */
  redisCalls: number;
  /** The warm-up pushes, left out of the figures. */
  warmup: Set<string>;
  push: (i: number) => Promise<void>;
  stop: () => Promise<void>;
}

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
        rej(new Error(`not all pushes ended within ${timeoutMs} ms`));
      }
    }, 20);
  });
}

const newSide = (name: string): Side => ({
  name,
  stamps: emptyStamps(),
  cpu: { ms: 0 },
  ended: new Set(),
  redisCalls: 0,
  warmup: new Set(),
  push: async () => {},
  stop: async () => {},
});

async function hoistSide(a: Apps, env: Record<string, string>): Promise<Side> {
  const side = newSide("hoist");
  const bySha = new Map<string, string>();
  side.explain = async (ids) => {
    const rows = await Promise.all(
      ids.map(async (id) => {
        const build = await a.records.builds.get(id);
        const release = build?.releaseId ? await a.records.releases.get(build.releaseId) : undefined;
        const jobs = await Promise.all(
          (["build", "deploy", "notify"] as const).map(async (q) => {
            const jobId = q === "build" ? id : q === "deploy" ? releaseIdFor(id) : `slack.release.live.${releaseIdFor(id)}`;
            return `${q} job ${await a.queues.queue(q).getJobState(jobId)}`;
          }),
        );
        return `${id}: build ${build?.status ?? "missing"}, release ${release ? `${release.status}${release.reason ? ` (${release.reason})` : ""}` : "none"}; ${jobs.join(", ")}`;
      }),
    );
    return rows.join("\n");
  };
  const workers = await Promise.all(
    layout(["builder", "deployer", "notifier"]).map((roles) => startWorkerProcess(roles, env, side.stamps, side.cpu)),
  );
  // The Slack message can reach this process before the webhook's 202 does (a busy client): it is
  // kept by commit until the answer names the build.
  const early = new Map<string, { at: number; live: boolean }>();
  const end = (id: string, e: { at: number; live: boolean }) => {
    if (e.live) side.stamps.liveAt.set(id, e.at);
    side.ended.add(id);
  };
  liveHandlers.hoist = (text, at) => {
    const short = /^\S+ ([0-9a-f]{8})(?: is live|: release failed)/.exec(text)?.[1];
    if (!short) return;
    const e = { at, live: text.includes(" is live") };
    const id = bySha.get(short);
    if (id) end(id, e);
    else early.set(short, e);
  };
  side.push = async (i) => {
    const app = a.apps[i % a.apps.length] as Apps["apps"][number];
    const sha = randomBytes(20).toString("hex");
    const hook = pushHook(app.token, `bench/${i}`, sha);
    const sent = Date.now();
    const res = await post(app.hookUrl, hook.headers, hook.body);
    const accepted = Date.now();
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${res.body}`);
    const buildId = (JSON.parse(res.body) as { buildId: string }).buildId;
    bySha.set(sha.slice(0, 8), buildId);
    side.stamps.sentAt.set(buildId, sent);
    side.stamps.acceptedAt.set(buildId, accepted);
    const e = early.get(sha.slice(0, 8));
    if (e) end(buildId, e);
  };
  side.stop = async () => {
    await Promise.all(workers.map((w) => w.stop()));
    // Deploy and notify stamps are keyed by release id; the rest by build id.
    const byRelease = new Map([...side.stamps.acceptedAt.keys()].map((b) => [releaseIdFor(b), b]));
    for (const m of [side.stamps.deployActive, side.stamps.notifyQueued]) {
      for (const [rel, v] of [...m]) {
        m.delete(rel);
        m.set(byRelease.get(rel) ?? rel, v);
      }
    }
  };
  return side;
}

async function referenceSide(env: Record<string, string>): Promise<Side> {
  const side = newSide("reference");
  const procs = await Promise.all(
    layout(["ref-http", "ref-build", "ref-deploy", "ref-notify"]).map((roles) => startWorkerProcess(roles, env, side.stamps, side.cpu)),
  );
  const url = procs.find((x) => x.url)?.url as string;
  liveHandlers.reference = (text, at) => {
    const id = /^(\S+) is live/.exec(text)?.[1];
    if (!id) return;
    side.stamps.liveAt.set(id, at);
    side.ended.add(id);
  };
  side.push = async () => {
    const id = randomUUID();
    const sent = Date.now();
    const res = await post(url, { "content-type": "application/json" }, JSON.stringify({ id }));
    if (res.status !== 202) throw new Error(`reference answered ${res.status}`);
    side.stamps.sentAt.set(id, sent);
    side.stamps.acceptedAt.set(id, Date.now());
  };
  side.stop = async () => {
    await Promise.all(procs.map((w) => w.stop()));
  };
  return side;
}

/**
 * Pushes at RATE for SECONDS per side, in ROUNDS alternating slices (reference, Hoist, reference,
 * ...), each drained before the next, so that load from elsewhere on this shared machine falls on
 * both sides alike.
 */
async function alternate(sides: Side[], calls: () => Promise<number>): Promise<void> {
  let n = 0;
  const slice = async (side: Side, pushes: number, counted: boolean) => {
    const target = side.stamps.sentAt.size + pushes;
    const before = await calls();
    await atFixedRate(RATE, pushes / RATE, () => side.push(n++));
    await waitUntil(() => side.ended.size >= target, 60_000).catch(async (err: Error) => {
      const missing = [...side.stamps.sentAt.keys()].filter((id) => !side.ended.has(id));
      console.error(`${side.name}: ${err.message} (${side.ended.size}/${target})`);
      if (side.explain) console.error(await side.explain(missing.slice(0, 10)));
    });
    if (counted) side.redisCalls += (await calls()) - before;
  };
  // A warm-up slice per side first (JIT, connections, caches), left out of every figure.
  await Promise.all(
    sides.map(async (side) => {
      await slice(side, Math.round(RATE * WARMUP_SECONDS), false);
      side.warmup = new Set(side.stamps.sentAt.keys());
    }),
  );
  const perSlice = Math.round((RATE * SECONDS) / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    if (SCHEDULE === "together") await Promise.all(sides.map((side) => slice(side, perSlice, true)));
    else for (const side of sides) await slice(side, perSlice, true);
  }
}

/** Drops the warm-up pushes' stamps (call after the side stopped: its stamps are keyed by push then). */
function dropWarmup(side: Side): void {
  for (const map of Object.values(side.stamps) as Map<string, number>[]) for (const id of side.warmup) map.delete(id);
}

/** Slow builds (sleeping `SLOW_BUILD_MS`) queued up front, then drained by `builders` builder workers. */
async function scalePhase(a: Apps, w: HoistWorld, builders: number): Promise<number> {
  const ids: string[] = [];
  for (let i = 0; i < SLOW_BUILDS; i++) {
    const app = a.apps[i % a.apps.length] as Apps["apps"][number];
    const res = await fetch(`${a.url}/v1/apps/${app.name}/builds`, {
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
    const masterKey = randomBytes(32);
    writeFileSync(join(dir, "master.key"), masterKey.toString("base64"), { mode: 0o600 });
    const slack = await startSlackReceiver((side, text, at) => liveHandlers[side]?.(text, at));

    const run = `${Date.now().toString(36)}`;
    const prefix = `bench-pipeline-${run}`;
    const apiPort = await freePort();
    await startProcess(
      [process.execPath, ...NODE_ARGS, join(root, "services/api/dist/main.js")],
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
    const a: Apps = { records: new Records(producer, prefix), queues: new JobQueues(producer, prefix), url: apiUrl, apps: [] };
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
      a.apps.push({ name: body.app.name, hookUrl: body.webhook.url, token: body.webhook.token });
    }

    console.log(
      `bench pipeline: ${RATE} pushes/s for ${SECONDS} s, worker concurrency ${CONCURRENCY}, ${APPS} apps, layout ${LAYOUT}, ${ROUNDS} rounds (${SCHEDULE}), node ${NODE_ARGS.join(" ") || "(no flags)"}, Redis ${url}`,
    );
    const reference = await referenceSide({ REDIS_URL: url, BENCH_PREFIX: `bench-ref-${run}`, BENCH_SLACK_URL: slack.referenceUrl });
    const hoistSideOf = await hoistSide(a, {
      REDIS_URL: url,
      BENCH_PREFIX: prefix,
      BENCH_MASTER_KEY: masterKey.toString("base64"),
      BENCH_PUBLIC_URL: apiUrl,
    });
    await alternate([reference, hoistSideOf], () => redisCalls(producer));
    await Promise.all([reference.stop(), hoistSideOf.stop()]);
    dropWarmup(reference);
    dropWarmup(hoistSideOf);
    const pushes = Math.round(RATE * SECONDS);
    const sent = pushes + Math.round(RATE * WARMUP_SECONDS);
    const hoist = hoistSideOf.stamps;
    const ref = reference.stamps;
    console.log(
      `worker CPU per push (the worker processes; Hoist's API process not counted): hoist ${(hoistSideOf.cpu.ms / sent).toFixed(2)} ms, reference ${(reference.cpu.ms / sent).toFixed(2)} ms`,
    );
    console.log(
      `Redis commands per push (with those inside scripts and idle polls): hoist ${(hoistSideOf.redisCalls / pushes).toFixed(0)}, reference ${(reference.redisCalls / pushes).toFixed(0)}; Hoist pushes superseded before going live: ${[...hoistSideOf.ended].filter((id) => !hoistSideOf.warmup.has(id) && !hoist.liveAt.has(id)).length}`,
    );
    const h = samplesOf(hoist);
    const r = samplesOf(ref);
    console.log(summary("hoist", h));
    console.log(summary("reference (bare BullMQ chain)", r));
    for (const k of handoffs) {
      const ratio = pct(h[k], 0.99) / pct(r[k], 0.99);
      console.log(`  ${k} p99 ratio ${ratio.toFixed(2)}${ratio <= 1.5 ? "" : " (over the 1.5× target)"}`);
    }

    // The scale phase runs its builders here, each on connections of its own.
    const conns: Redis[] = [];
    const w = hoistWorld({
      prefix,
      producer,
      masterKey,
      publicUrl: apiUrl,
      connection: () => {
        const c = createRedis(url, "worker");
        conns.push(c);
        return c;
      },
    });
    const one = await scalePhase(a, w, 1);
    const two = await scalePhase(a, w, 2);

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
