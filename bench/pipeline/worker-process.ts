// Workers of bench:pipeline in a process of their own: Hoist's builder, deployer or notifier (see
// compose.ts), or stages of the bare reference chain; BENCH_ROLES lists them (one per process, as
// production runs the services, or all in one). It reports its timing stamps to the parent over
// IPC, batched, and its CPU time when stopped.
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRedis, type Redis } from "@hoist/shared";
import { Queue, Worker } from "bullmq";
import { hoistWorld, instantBuild, startBuilder, startDeployer, startNotifier } from "./compose.js";

export type Role = "builder" | "deployer" | "notifier" | "ref-http" | "ref-build" | "ref-deploy" | "ref-notify";
export type StampMessage = { t: "stamps"; rows: [map: "buildActive" | "deployActive" | "notifyQueued", id: string, value: number][] };
export type ProcessMessage = StampMessage | { t: "ready"; url?: string } | { t: "stopped"; cpuMs: number };

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const roles = env("BENCH_ROLES").split(",") as Role[];
const url = env("REDIS_URL");
const prefix = env("BENCH_PREFIX");
const concurrency = Number(env("BENCH_CONCURRENCY"));

const send = (m: ProcessMessage) => new Promise<void>((r) => (process.send ? process.send(m, () => r()) : r()));
let rows: StampMessage["rows"] = [];
const stamp = (map: StampMessage["rows"][number][0], id: string, value: number) => rows.push([map, id, value]);
const flush = async () => {
  if (rows.length === 0) return;
  const batch = rows;
  rows = [];
  await send({ t: "stamps", rows: batch });
};
// Batched so that reporting costs the measured processes little.
const ticker = setInterval(() => void flush(), 200);

const conns: Redis[] = [];
const connection = () => {
  const c = createRedis(url, "worker");
  conns.push(c);
  return c;
};
const closers: (() => Promise<unknown>)[] = [];
let readyUrl: string | undefined;

async function startRole(role: Role): Promise<void> {
  if (role === "builder" || role === "deployer" || role === "notifier") {
    const w = hoistWorld({
      prefix,
      producer: (() => {
        const p = createRedis(url, "producer");
        conns.push(p);
        return p;
      })(),
      masterKey: Buffer.from(env("BENCH_MASTER_KEY"), "base64"),
      publicUrl: env("BENCH_PUBLIC_URL"),
      connection,
    });
    const worker =
      role === "builder"
        ? startBuilder(w, concurrency, instantBuild, (id) => stamp("buildActive", id, Date.now()))
        : role === "deployer"
          ? startDeployer(w, concurrency, (id, waited) => stamp("deployActive", id, waited))
          : startNotifier(w, concurrency, (id, queuedAt) => stamp("notifyQueued", id, queuedAt));
    await worker.waitUntilReady();
    closers.push(
      () => worker.close(),
      () => w.queues.close(),
    );
  } else {
    // The honest reference: each stage adds the next job the moment it runs; nothing else.
    const jobOpts = { removeOnComplete: true, removeOnFail: false };
    const producer = connection();
    const next = (name: string) => {
      const q = new Queue(name, { connection: producer, prefix });
      closers.push(() => q.close());
      return q;
    };
    const worker = (name: string, fn: (job: { data: { id: string }; timestamp: number }) => Promise<void>) => {
      const wk = new Worker(name, fn, { connection: connection(), prefix, concurrency });
      closers.push(() => wk.close());
      return wk.waitUntilReady();
    };
    if (role === "ref-http") {
      const build = next("build");
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id: string };
          build.add("build", { id: body.id }, { ...jobOpts, jobId: body.id }).then(
            () => res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ status: "queued", buildId: body.id })),
            () => res.writeHead(503).end(),
          );
        });
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      readyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      closers.unshift(() => new Promise((r) => server.close(r)));
    } else if (role === "ref-build") {
      const deploy = next("deploy");
      await worker("build", async (job) => {
        stamp("buildActive", job.data.id, Date.now());
        await deploy.add("deploy", job.data, jobOpts);
      });
    } else if (role === "ref-deploy") {
      const notify = next("notify");
      await worker("deploy", async (job) => {
        stamp("deployActive", job.data.id, Date.now() - job.timestamp);
        await notify.add("notify", job.data, jobOpts);
      });
    } else {
      const slackUrl = env("BENCH_SLACK_URL");
      await worker("notify", async (job) => {
        stamp("notifyQueued", job.data.id, job.timestamp);
        const res = await fetch(slackUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ text: `${job.data.id} is live` }),
        });
        if (!res.ok) throw new Error(`slack answered ${res.status}`);
        await res.arrayBuffer();
      });
    }
  }
}

for (const role of roles) await startRole(role);

process.on("message", async (m: { t?: string }) => {
  if (m?.t !== "stop") return;
  for (const close of closers) await close();
  clearInterval(ticker);
  await flush();
  for (const c of conns) c.disconnect();
  const cpu = process.cpuUsage(cpuAtReady);
  await send({ t: "stopped", cpuMs: (cpu.user + cpu.system) / 1000 });
  process.exit(0);
});
// CPU is counted from here: start-up (loading, transpiling) is not the work per push.
const cpuAtReady = process.cpuUsage();
await send({ t: "ready", ...(readyUrl ? { url: readyUrl } : {}) });
