// A stage of bench:pipeline's reference, in a process of its own: the bare chain a competent
// engineer would write on BullMQ — an HTTP endpoint that adds a build job, and build, deploy and
// notify workers, each adding the next job the moment its (instant) step returns; notify posts
// the "live" message to Slack. BENCH_ROLE names the stage; stamps go to the parent over IPC.
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRedis, type Redis } from "@hoist/shared";
import { Queue, Worker } from "bullmq";
import type { StampName } from "./stats.js";

export type RefRole = "ref-http" | "ref-build" | "ref-deploy" | "ref-notify";
export type StampRow = [name: StampName, id: string, at: number];
export type ProcessMessage = { t: "stamps"; rows: StampRow[] } | { t: "ready"; url?: string } | { t: "report"; cpuMs: number };

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const role = env("BENCH_ROLE") as RefRole;
const url = env("REDIS_URL");
const prefix = env("BENCH_PREFIX");
const concurrency = Number(env("BENCH_CONCURRENCY"));

const send = (m: ProcessMessage) => new Promise<void>((r) => (process.send ? process.send(m, () => r()) : r()));
let rows: StampRow[] = [];
const stamp = (name: StampName, id: string) => rows.push([name, id, Date.now()]);
const flush = async () => {
  if (rows.length === 0) return;
  const batch = rows;
  rows = [];
  await send({ t: "stamps", rows: batch });
};
// Batched, as the Hoist side's, so that reporting costs both sides alike.
setInterval(() => void flush(), 200).unref();

const conns: Redis[] = [];
const connection = () => {
  const c = createRedis(url, "worker");
  conns.push(c);
  return c;
};
const jobOpts = { removeOnComplete: true, removeOnFail: false };
const next = (name: string) => new Queue(name, { connection: connection(), prefix });
const worker = (name: string, fn: (job: { data: { id: string } }) => Promise<void>) =>
  new Worker(name, fn, { connection: connection(), prefix, concurrency }).waitUntilReady();
let readyUrl: string | undefined;

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
} else if (role === "ref-build") {
  const deploy = next("deploy");
  await worker("build", async (job) => {
    stamp("buildStart", job.data.id);
    stamp("buildEnd", job.data.id);
    await deploy.add("deploy", job.data, jobOpts);
  });
} else if (role === "ref-deploy") {
  const notify = next("notify");
  await worker("deploy", async (job) => {
    stamp("deployStart", job.data.id);
    stamp("deployEnd", job.data.id);
    await notify.add("notify", job.data, jobOpts);
  });
} else if (role === "ref-notify") {
  const slackUrl = env("BENCH_SLACK_URL");
  await worker("notify", async (job) => {
    const res = await fetch(slackUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: `${job.data.id} is live` }),
    });
    if (!res.ok) throw new Error(`slack answered ${res.status}`);
    await res.arrayBuffer();
  });
} else {
  throw new Error(`BENCH_ROLE must be ref-http, ref-build, ref-deploy or ref-notify, not ${role}`);
}

const cpuAtReady = process.cpuUsage();
process.on("message", async (m: { t?: string }) => {
  if (m?.t !== "report") return;
  await flush();
  const cpu = process.cpuUsage(cpuAtReady);
  await send({ t: "report", cpuMs: (cpu.user + cpu.system) / 1000 });
});
process.on("SIGTERM", () => {
  for (const c of conns) c.disconnect();
  process.exit(0);
});
await send({ t: "ready", ...(readyUrl ? { url: readyUrl } : {}) });
