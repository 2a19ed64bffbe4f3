// pnpm bench:pipeline — how long a push takes from the moment its webhook is sent until its "live"
// message reaches Slack, with the build and the rollout injected as instant steps, Hoist against a
// bare three-queue BullMQ chain on the same Redis in the same run; then builds/s of 4 builder
// processes against 1 on short builds. Method, knobs and figures: docs/benchmarks.md.
//
// Hoist side: the real API process takes GitLab Push Hooks; the builder, deployer and notifier
// each boot through their own main.js with production defaults (service-process.mjs), with only
// the builder's runPipeline and the deployer's targetFor replaced. The reference runs its HTTP
// endpoint and its three stages in four processes too. Both post "live" to one Slack receiver here.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createRedis, JobQueues, Records, type Redis } from "@hoist/shared";
import { releaseIdFor } from "../../services/builder/src/jobs/build-job.js";
import { freePort } from "../support/http.js";
import { serviceRedisUrls } from "../support/redis-users.js";
import { type HoistApps, hoistSide, type Outcome, type Side } from "./hoist-side.js";
import { cpuMsOf, freshAgent, killAll, redisUrl, startProcess } from "./processes.js";
import { referenceSide } from "./reference-side.js";
import { scalePhase } from "./scale.js";
import { atFixedRate, fmt, pct, samplesOf, slowestPushes, summary } from "./stats.js";

const root = resolve(import.meta.dirname, "..", "..");
const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number ≥ 0, not ${process.env[name]}`);
  return v;
};
const RATE = num("BENCH_RATE", 50);
const SECONDS = num("BENCH_SECONDS", 20);
const APPS = num("BENCH_APPS", 20);
const ROUNDS = num("BENCH_ROUNDS", 10);
const WARMUP_SECONDS = num("BENCH_WARMUP_SECONDS", 2);
const SCALE_BUILDS = num("BENCH_SCALE_BUILDS", 200);
const SCALE_BUILD_MS = num("BENCH_SCALE_BUILD_MS", 50);
const SCALE_BUILDERS = num("BENCH_SCALE_BUILDERS", 4);
// Jobs each worker runs at once: the production defaults of docker-compose.yml unless
// BENCH_CONCURRENCY sets one figure for all; each reference stage gets its Hoist service's figure.
const CONCURRENCY = {
  builder: process.env.BENCH_CONCURRENCY ?? "2",
  deployer: process.env.BENCH_CONCURRENCY ?? "4",
  notifier: process.env.BENCH_CONCURRENCY ?? "8",
};
// Node flags for every process of both sides. V8's memory reducer compacts the heap of a process
// gone idle; the alternation below idles each side while the other is measured, so without this
// a slice could open with a 20-60 ms compaction steady traffic would not have. "" turns it off.
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? "--no-memory-reducer").split(" ").filter(Boolean);
// "alternate": the sides take turns (each measured alone); "together": both at once, each at RATE.
const SCHEDULE = process.env.BENCH_SCHEDULE ?? "alternate";
if (SCHEDULE !== "alternate" && SCHEDULE !== "together")
  throw new Error(`BENCH_SCHEDULE must be "alternate" or "together", not ${SCHEDULE}`);
const apiToken = randomBytes(24).toString("hex");

/** The Slack receiver both sides post their "live" message to; it stamps when each arrives. */
async function startSlackReceiver(handlers: Record<"hoist" | "reference", (text: string, at: number) => void>) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = Date.now();
      const text = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { text?: string }).text ?? "";
      handlers[req.url === "/services/T0/B0/hoist" ? "hoist" : "reference"](text, at);
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { hoistUrl: `${base}/services/T0/B0/hoist`, referenceUrl: `${base}/services/T0/B0/reference`, close: () => server.close() };
}

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

/** Per side: pushes of the measured slices, Redis commands and CPU (all its processes) during them. */
interface Tally {
  measured: Set<string>;
  redisCalls: number;
  cpuMs: number;
}

/** Commands Redis has executed so far (INFO commandstats), scripts' inner calls included. */
async function redisCalls(redis: Redis): Promise<number> {
  const info = await redis.info("commandstats");
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}

/**
 * Pushes at RATE in a warm-up slice per side (left out of every figure), then ROUNDS slices per
 * side, alternating (reference, Hoist, reference, ...) and each drained before the next, so that
 * load from elsewhere on a shared machine falls on both sides alike.
 */
async function drive(sides: Side[], producer: Redis): Promise<Map<Side, Tally>> {
  const tallies = new Map(sides.map((s) => [s, { measured: new Set<string>(), redisCalls: 0, cpuMs: 0 }]));
  let n = 0;
  const cpu = (side: Side) => side.pids().reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  const slice = async (side: Side, pushes: number, counted: boolean) => {
    // Every earlier slice has drained: no request is in flight on the agent replaced here.
    freshAgent();
    const before = new Set(side.stamps.sentAt.keys());
    const target = before.size + pushes;
    const [calls0, cpu0] = [await redisCalls(producer), cpu(side)];
    await atFixedRate(RATE, pushes / RATE, () => side.push(n++));
    await waitUntil(() => side.ended.size >= target, 60_000).catch(async (err: Error) => {
      const missing = [...side.stamps.sentAt.keys()].filter((id) => !side.ended.has(id));
      throw new Error(`${side.name}: ${err.message} (${side.ended.size}/${target}):\n${await side.explain(missing.slice(0, 10))}`);
    });
    if (!counted) return;
    const t = tallies.get(side) as Tally;
    t.redisCalls += (await redisCalls(producer)) - calls0;
    t.cpuMs += cpu(side) - cpu0;
    for (const id of side.stamps.sentAt.keys()) if (!before.has(id)) t.measured.add(id);
  };
  await Promise.all(sides.map((side) => slice(side, Math.round(RATE * WARMUP_SECONDS), false)));
  const perSlice = Math.round((RATE * SECONDS) / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    if (SCHEDULE === "together") await Promise.all(sides.map((side) => slice(side, perSlice, true)));
    else for (const side of sides) await slice(side, perSlice, true);
  }
  return tallies;
}

/** Keeps only the measured pushes' stamps. */
function keepMeasured(side: Side, measured: Set<string>): void {
  for (const map of Object.values(side.stamps) as Map<string, number>[]) for (const id of map.keys()) if (!measured.has(id)) map.delete(id);
}

/**
 * A push whose release a newer release of its app superseded never goes live itself: its change
 * is live when that newer release is (the first of the app's later releases to go live). That is
 * the time it is given; any other failed release stops the bench.
 */
async function timeSuperseded(records: Records, side: Side, outcomes: Map<string, Outcome>): Promise<number> {
  const liveByApp = new Map<string, { release: number; at: number }[]>();
  for (const [id, o] of outcomes) {
    const at = side.stamps.liveAt.get(id);
    if (o.live && at !== undefined) liveByApp.set(o.app, [...(liveByApp.get(o.app) ?? []), { release: o.release, at }]);
  }
  let superseded = 0;
  for (const [id, o] of outcomes) {
    if (o.live || !side.stamps.sentAt.has(id)) continue;
    const release = await records.releases.get(releaseIdFor(id));
    if (release?.reason !== "superseded") throw new Error(`push ${id}'s release failed: ${release?.reason ?? "no release record"}`);
    const later = (liveByApp.get(o.app) ?? []).filter((l) => l.release > o.release).map((l) => l.at);
    if (later.length === 0)
      throw new Error(`push ${id} (release #${o.release} of ${o.app}) was superseded, but no later release went live`);
    side.stamps.liveAt.set(id, Math.min(...later));
    superseded++;
  }
  return superseded;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hoist-bench-pipeline-"));
  let ok = false;
  let keepLogs = false;
  try {
    const { url, users } = await redisUrl(dir);
    const redisUrls = serviceRedisUrls(url, users);
    const masterKeyFile = join(dir, "master.key");
    writeFileSync(masterKeyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
    const handlers = { hoist: (_t: string, _a: number) => {}, reference: (_t: string, _a: number) => {} };
    const slack = await startSlackReceiver({ hoist: (t, a) => handlers.hoist(t, a), reference: (t, a) => handlers.reference(t, a) });

    const run = Date.now().toString(36);
    const prefix = `bench-pipeline-${run}`;
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    // What every Hoist process reads, as production sets it; the rest are the services' defaults.
    // REDIS_URL is each service's own ACL user (redisUrls).
    const hoistEnv = {
      HOIST_QUEUE_PREFIX: prefix,
      HOIST_LOG_LEVEL: "info",
      HOIST_DATA_DIR: dir,
      HOIST_MASTER_KEY_FILE: masterKeyFile,
      HOIST_PUBLIC_URL: apiUrl,
      // The Slack receiver is on loopback: allowed, as an operator would allow an internal host.
      HOIST_OUTBOUND_ALLOW: "127.0.0.1",
    };
    const api = await startProcess(
      [process.execPath, ...NODE_ARGS, join(root, "services/api/dist/main.js")],
      { ...hoistEnv, REDIS_URL: redisUrls.api, HOIST_PORT: String(apiPort), HOIST_HOST: "127.0.0.1", HOIST_API_TOKEN: apiToken },
      /"msg":"ready"/,
      join(dir, "hoist-api.log"),
    );
    const producer = createRedis(url, "producer");
    const records = new Records(producer, prefix);
    const a: HoistApps = { records, apps: [] };
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
      `bench pipeline: ${RATE} pushes/s for ${SECONDS} s per side (${ROUNDS} rounds, ${SCHEDULE}, after ${WARMUP_SECONDS} s of warm-up), ${APPS} apps, concurrency build ${CONCURRENCY.builder} / deploy ${CONCURRENCY.deployer} / notify ${CONCURRENCY.notifier}, node ${NODE_ARGS.join(" ") || "(no flags)"}, logs in ${dir}`,
    );
    const reference = await referenceSide({
      env: { REDIS_URL: url, BENCH_PREFIX: `bench-ref-${run}`, BENCH_SLACK_URL: slack.referenceUrl },
      execArgv: NODE_ARGS,
      dir,
      concurrency: {
        "ref-http": "1",
        "ref-build": CONCURRENCY.builder,
        "ref-deploy": CONCURRENCY.deployer,
        "ref-notify": CONCURRENCY.notifier,
      },
    });
    handlers.reference = reference.onSlack;
    const hoist = await hoistSide(a, { env: hoistEnv, redisUrls, execArgv: NODE_ARGS, dir, apiPid: api.pid, concurrency: CONCURRENCY });
    handlers.hoist = hoist.onSlack;
    const tallies = await drive([reference.side, hoist.side], producer);
    await Promise.all([reference.side.stop(), hoist.side.stop()]);
    const th = tallies.get(hoist.side) as Tally;
    const tr = tallies.get(reference.side) as Tally;
    keepMeasured(hoist.side, th.measured);
    keepMeasured(reference.side, tr.measured);
    const superseded = await timeSuperseded(records, hoist.side, hoist.outcomes);

    // The scale figure: short builds, 1 builder process, then SCALE_BUILDERS.
    const conns: Redis[] = [];
    const scaleOpts = {
      apiUrl,
      apiToken,
      apps: a.apps.map((x) => x.name),
      queues: new JobQueues(producer, prefix),
      connection: () => {
        const c = createRedis(url, "worker");
        conns.push(c);
        return c;
      },
      prefix,
      env: hoistEnv,
      redisUrls,
      execArgv: NODE_ARGS,
      dir,
      builds: SCALE_BUILDS,
      buildMs: SCALE_BUILD_MS,
      concurrency: CONCURRENCY.builder,
    };
    const one = await scalePhase(scaleOpts, 1);
    const many = await scalePhase(scaleOpts, SCALE_BUILDERS);
    await scaleOpts.queues.close();
    for (const c of [...conns, producer]) c.disconnect();
    slack.close();

    const n = (t: Tally) => t.measured.size;
    console.log(
      `CPU per push (every process of the side: Hoist's API and workers; the reference's endpoint and stages): hoist ${(th.cpuMs / n(th)).toFixed(2)} ms, reference ${(tr.cpuMs / n(tr)).toFixed(2)} ms`,
    );
    console.log(
      `Redis commands per push (scripts' inner calls included): hoist ${(th.redisCalls / n(th)).toFixed(0)}, reference ${(tr.redisCalls / n(tr)).toFixed(0)}`,
    );
    console.log(
      `Hoist pushes superseded by a newer release of their app: ${superseded} of ${n(th)} (timed to that newer release's "live" message)`,
    );
    const h = samplesOf(hoist.side.stamps);
    const r = samplesOf(reference.side.stamps);
    // BENCH_SLOWEST=N: the N slowest pushes of each side with their stamps, and the logs kept, to
    // match a tail against what the processes were doing then.
    const slowest = Number(process.env.BENCH_SLOWEST ?? 0);
    if (slowest > 0) keepLogs = true;
    for (const [name, side] of [
      ["hoist", hoist.side],
      ["reference", reference.side],
    ] as const) {
      if (slowest > 0) console.log(slowestPushes(name, side.stamps, slowest));
    }
    console.log(summary("hoist", h));
    console.log(summary("reference (bare BullMQ chain)", r));
    for (const [name, s, t] of [
      ["hoist", h, th],
      ["reference", r, tr],
    ] as const) {
      if (s.sentToLive.length !== n(t)) throw new Error(`${name}: ${n(t)} pushes measured but ${s.sentToLive.length} timed to live`);
    }
    console.log(`bench scale: ${SCALE_BUILDERS} builders / 1 = ${(many / one).toFixed(2)}`);
    const [h50, h99, r50, r99] = [pct(h.sentToLive, 0.5), pct(h.sentToLive, 0.99), pct(r.sentToLive, 0.5), pct(r.sentToLive, 0.99)];
    console.log(
      `bench pipeline: webhook->live p50 ${fmt(h50)} ms p99 ${fmt(h99)} ms; reference p50 ${fmt(r50)} ms p99 ${fmt(r99)} ms; ratio ${(h99 / r99).toFixed(2)}`,
    );
    ok = true;
  } finally {
    killAll();
    if (ok && !keepLogs) rmSync(dir, { recursive: true, force: true });
    else console.error(`logs kept in ${dir}`);
  }
}

await main();
process.exit(0);
