// pnpm bench:failover — Hoist through a Redis master's death under webhook traffic, on Sentinel.
// A master, a replica and three Sentinels (real redis-server and redis-sentinel on loopback, the
// services' ACL users, down-after-milliseconds BENCH_DOWN_AFTER_MS); the API process and the
// builder, deployer and notifier booted through their own main.js with the build and the rollout
// instant (bench/pipeline/service-process.mjs), all through REDIS_SENTINELS. Webhooks at BENCH_RATE/s;
// after BENCH_BEFORE_S the master is killed (kill -9); traffic goes on BENCH_AFTER_S after the new
// master is known. Prints, last:
//   bench failover: unavailable <ms> ms (503 window); stuck workers <n>; lost <n>; ratio <x>
// unavailable: first 503 sent to last 503 answered; stuck: workers (builder, deployer, notifier)
// that took no job within 10 s of the new master being known; lost: webhooks answered 202 whose
// build did not end with its release live or superseded; ratio: master death to the first job any
// worker took from the new master, over Sentinel's own failover time (master death to the
// +switch-master its log shows: down-after-milliseconds and the election).
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createRedis, Records, redisTargetFrom, SERVICE_USERS, serviceRedisUrl } from "@hoist/shared";
import { releaseIdFor } from "../../services/builder/src/jobs/build-job.js";
import { SlackReceiver } from "../../test/support/receivers/slack.js";
import { SENTINEL_NAME, SENTINEL_PASSWORD, SentinelSet } from "../../test/support/redis-sentinel.js";
import { type Forked, forkReporting, killAll, startProcess } from "../pipeline/processes.js";
import { freePort } from "../support/http.js";
import { pushHook } from "../support/push-hook.js";

const root = resolve(import.meta.dirname, "..", "..");
const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a number > 0, not ${process.env[name]}`);
  return v;
};
const RATE = num("BENCH_RATE", 20);
const BEFORE_S = num("BENCH_BEFORE_S", 5);
const AFTER_S = num("BENCH_AFTER_S", 10);
const DOWN_AFTER_MS = num("BENCH_DOWN_AFTER_MS", 2_000);
const TAKE_WITHIN_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  sent: number;
  answered: number;
  buildId?: string;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hoist-bench-failover-"));
  // The services' own ACL users, fresh for this run (the Redis servers load them).
  for (const who of ["admin", ...SERVICE_USERS]) process.env[`HOIST_REDIS_PASSWORD_${who.toUpperCase()}`] = randomBytes(24).toString("hex");
  const set = new SentinelSet({ replicas: 1, downAfterMs: DOWN_AFTER_MS });
  const slack = new SlackReceiver();
  const workers: Forked[] = [];
  try {
    await set.start();
    await slack.start();
    const keyFile = join(dir, "master.key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const apiToken = randomBytes(24).toString("hex");
    const prefix = `bench-failover-${Date.now().toString(36)}`;
    const common = {
      REDIS_SENTINELS: set.sentinelList,
      REDIS_SENTINEL_NAME: SENTINEL_NAME,
      REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
      HOIST_QUEUE_PREFIX: prefix,
      HOIST_DATA_DIR: dir,
      HOIST_MASTER_KEY_FILE: keyFile,
      HOIST_PUBLIC_URL: apiUrl,
      HOIST_OUTBOUND_ALLOW: "127.0.0.1",
    };
    const urlOf = (service: (typeof SERVICE_USERS)[number]) =>
      serviceRedisUrl(set.adminUrl, service, process.env[`HOIST_REDIS_PASSWORD_${service.toUpperCase()}`] as string);
    await startProcess(
      [process.execPath, join(root, "services/api/dist/main.js")],
      { ...common, REDIS_URL: urlOf("api"), HOIST_PORT: String(apiPort), HOIST_HOST: "127.0.0.1", HOIST_API_TOKEN: apiToken },
      /"msg":"ready"/,
      join(dir, "hoist-api.log"),
    );
    const took: Record<string, number[]> = { builder: [], deployer: [], notifier: [] };
    for (const service of ["builder", "deployer", "notifier"] as const) {
      workers.push(
        await forkReporting(`hoist-${service}`, join(root, "bench/pipeline/service-process.mjs"), {
          execArgv: [],
          env: { ...common, REDIS_URL: urlOf(service), BENCH_SERVICE: service, HOIST_CONCURRENCY: "4" },
          logFile: join(dir, `hoist-${service}.log`),
          onStamps: (rows) => {
            for (const [name, , at] of rows) {
              if (name === "buildStart") took.builder?.push(at);
              if (name === "deployStart") took.deployer?.push(at);
            }
          },
        }),
      );
    }
    const admin = createRedis(
      redisTargetFrom({
        REDIS_URL: set.adminUrl,
        REDIS_SENTINELS: set.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })),
        REDIS_SENTINEL_NAME: SENTINEL_NAME,
        REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
      }),
      "worker",
      "bench-observer",
    );
    const records = new Records(admin, prefix);
    const apps: { hook: string; token: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${apiUrl}/v1/apps`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({
          name: `failover-${i}`,
          branch: "*",
          repo: { sshUrl: "git@127.0.0.1:acme/web.git" },
          target: { kind: "local", services: {} },
          slackWebhookUrl: slack.webhookUrl(),
        }),
      });
      const body = (await res.json()) as { webhook: { url: string; token: string } };
      if (res.status !== 201) throw new Error(`POST /v1/apps answered ${res.status}: ${JSON.stringify(body)}`);
      apps.push({ hook: `${apiUrl}${new URL(body.webhook.url).pathname}`, token: body.webhook.token });
    }

    const answers: Answer[] = [];
    let sending = true;
    const traffic = (async () => {
      const inflight: Promise<void>[] = [];
      for (let i = 0; sending; i++) {
        const app = apps[i % apps.length] as (typeof apps)[number];
        const hook = pushHook({ token: app.token, branch: `failover/${i}`, sha: randomBytes(20).toString("hex") });
        const sent = Date.now();
        inflight.push(
          fetch(app.hook, { method: "POST", headers: hook.headers, body: hook.body, signal: AbortSignal.timeout(5_000) })
            .then(async (res) => {
              const body = (await res.json()) as { buildId?: string };
              answers.push({ status: res.status, sent, answered: Date.now(), ...(body.buildId ? { buildId: body.buildId } : {}) });
            })
            .catch(() => void answers.push({ status: 0, sent, answered: Date.now() })),
        );
        await sleep(1000 / RATE);
      }
      await Promise.all(inflight);
    })();
    await sleep(BEFORE_S * 1000);
    const master = await set.masterPort();
    const switched = set.nextSwitch();
    const death = Date.now();
    await set.kill(master);
    const sw = await switched;
    await sleep(AFTER_S * 1000);
    sending = false;
    await traffic;

    // Every accepted push ends: its build, then its release live or superseded.
    const accepted = answers.filter((a) => a.status === 202).map((a) => a.buildId as string);
    const ended = async (id: string) => {
      const [status] = await records.builds.statuses([id]);
      if (status === "canceled" || status === "failed") return status === "canceled";
      if (status !== "succeeded") return false;
      const r = await records.releases.get(releaseIdFor(id));
      return r?.status === "live" || r?.status === "retired" || r?.reason === "superseded";
    };
    let open = accepted;
    const deadline = Date.now() + 120_000;
    while (open.length && Date.now() < deadline) {
      const flags = await Promise.all(open.map(ended));
      open = open.filter((_, i) => !flags[i]);
      if (open.length) await sleep(1_000);
    }
    took.notifier = slack.posted.map((p) => p.at);
    const firstAfter = (list: number[], t: number) => Math.min(...list.filter((x) => x > t));
    const stuck = Object.values(took).filter((list) => !(firstAfter(list, sw.at) - sw.at <= TAKE_WITHIN_MS)).length;
    // A job whose handler starts just after the kill was fetched before it: work resumes with the
    // first job taken once the new master is known.
    const firstTake = Math.min(...Object.values(took).map((list) => firstAfter(list, sw.at)));
    const unavailable = answers.filter((a) => a.status === 503);
    const window = unavailable.length ? Math.max(...unavailable.map((a) => a.answered)) - Math.min(...unavailable.map((a) => a.sent)) : 0;
    const sentinelMs = sw.at - death;
    const ratio = (firstTake - death) / sentinelMs;
    console.log(
      `bench failover: ${answers.length} webhooks at ${RATE}/s (${accepted.length} × 202, ${unavailable.length} × 503, ${answers.length - accepted.length - unavailable.length} other); master killed, new master known after ${sentinelMs} ms (down-after-milliseconds ${DOWN_AFTER_MS}); first job taken ${firstTake - death} ms after the kill (${firstTake - sw.at} ms after the switch); logs in ${dir}`,
    );
    console.log(
      `bench failover: unavailable ${window} ms (503 window); stuck workers ${stuck}; lost ${open.length}; ratio ${ratio.toFixed(2)}`,
    );
    admin.disconnect();
  } finally {
    for (const w of workers) await w.stop().catch(() => undefined);
    killAll();
    await slack.close();
    await set.remove();
    if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
