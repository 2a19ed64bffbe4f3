import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Queue, QueueEvents, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { emptySamples, type HandoffSamples } from "./stats.js";

type Stamp = { receivedAt: number; acceptedAt?: number; buildDoneAt?: number; deployDoneAt?: number };

/**
 * The honest reference: a bare node:http endpoint and a three-queue BullMQ chain (build → deploy →
 * notify) on the same Redis, each worker adding the next job the moment it runs, nothing else.
 */
export async function startReferenceChain(connection: Redis, prefix: string) {
  const samples: HandoffSamples = emptySamples();
  const stamps = new Map<string, Stamp>();
  const build = new Queue("build", { connection, prefix });
  const deploy = new Queue("deploy", { connection, prefix });
  const notify = new Queue("notify", { connection, prefix });
  const opts = { removeOnComplete: true, removeOnFail: false };
  const workerOpts = { connection, prefix, concurrency: 8 };
  const workers = [
    new Worker(
      "build",
      async (job) => {
        const s = stamps.get(job.data.id);
        if (s?.acceptedAt) samples.acceptToBuild.push(Date.now() - s.acceptedAt);
        await deploy.add("deploy", job.data, opts);
        if (s) s.buildDoneAt = Date.now();
      },
      workerOpts,
    ),
    new Worker(
      "deploy",
      async (job) => {
        const s = stamps.get(job.data.id);
        if (s?.buildDoneAt) samples.buildToDeploy.push(Date.now() - s.buildDoneAt);
        await notify.add("notify", job.data, opts);
        if (s) s.deployDoneAt = Date.now();
      },
      workerOpts,
    ),
    new Worker(
      "notify",
      async (job) => {
        const s = stamps.get(job.data.id);
        if (s?.deployDoneAt) samples.deployToNotify.push(Date.now() - s.deployDoneAt);
        if (s) samples.endToEnd.push(Date.now() - s.receivedAt);
      },
      workerOpts,
    ),
  ];
  const events = new QueueEvents("notify", { connection, prefix });
  await Promise.all([...workers.map((w) => w.waitUntilReady()), events.waitUntilReady()]);
  const server = createServer((req, res) => {
    const receivedAt = Date.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id: string };
      const stamp: Stamp = { receivedAt };
      stamps.set(body.id, stamp);
      build.add("build", { id: body.id }, { ...opts, jobId: body.id }).then(
        () => {
          res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ status: "queued" }));
          stamp.acceptedAt = Date.now();
        },
        () => res.writeHead(503).end(),
      );
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    samples,
    done: () => samples.endToEnd.length,
    async close() {
      await new Promise((r) => server.close(r));
      await Promise.all(workers.map((w) => w.close()));
      await events.close();
      await Promise.all([build.close(), deploy.close(), notify.close()]);
    },
  };
}
