import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Stamps } from "./stats.js";

/**
 * The honest reference: a bare node:http endpoint and a three-queue BullMQ chain (build → deploy →
 * notify) on the same Redis, each worker adding the next job the moment it runs and the notify
 * worker posting one message to the same Slack receiver Hoist posts to. Nothing else.
 */
export async function startReferenceChain(opts: {
  connection: () => Redis;
  prefix: string;
  concurrency: number;
  slackUrl: string;
  stamps: Stamps;
}) {
  const { stamps, prefix } = opts;
  const producer = opts.connection();
  const build = new Queue("build", { connection: producer, prefix });
  const deploy = new Queue("deploy", { connection: producer, prefix });
  const notify = new Queue("notify", { connection: producer, prefix });
  const jobOpts = { removeOnComplete: true, removeOnFail: false };
  const conns: Redis[] = [producer];
  const worker = (name: string, fn: (job: { data: { id: string }; timestamp: number }) => Promise<void>) => {
    const connection = opts.connection();
    conns.push(connection);
    return new Worker(name, fn, { connection, prefix, concurrency: opts.concurrency });
  };
  const workers = [
    worker("build", async (job) => {
      stamps.buildActive.set(job.data.id, Date.now());
      await deploy.add("deploy", job.data, jobOpts);
    }),
    worker("deploy", async (job) => {
      stamps.deployActive.set(job.data.id, Date.now() - job.timestamp);
      await notify.add("notify", job.data, jobOpts);
    }),
    worker("notify", async (job) => {
      stamps.notifyQueued.set(job.data.id, job.timestamp);
      const res = await fetch(opts.slackUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: `${job.data.id} is live` }),
      });
      if (!res.ok) throw new Error(`slack answered ${res.status}`);
      await res.arrayBuffer();
    }),
  ];
  await Promise.all(workers.map((w) => w.waitUntilReady()));
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
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    async close() {
      await new Promise((r) => server.close(r));
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([build.close(), deploy.close(), notify.close()]);
      for (const c of conns) c.disconnect();
    },
  };
}
