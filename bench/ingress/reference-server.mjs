// The reference for `pnpm bench:ingress`: the least a webhook receiver can do — bare node:http,
// read the body, parse it, queue.add it on the same Redis, answer 202. No auth, no records.
import { createServer } from "node:http";
import { Queue } from "bullmq";
import { Redis } from "ioredis";

const { REDIS_URL, PORT, PREFIX } = process.env;
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
await new Promise((resolve) => redis.once("ready", resolve));
const queue = new Queue("build", { connection: redis, prefix: PREFIX });

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    try {
      const payload = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const job = await queue.add("build", payload);
      res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ status: "queued", jobId: job.id }));
    } catch (err) {
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: String(err) }));
    }
  });
});
server.listen(Number(PORT), "127.0.0.1", () => process.stdout.write("ready\n"));
process.on("SIGTERM", async () => {
  server.close();
  await queue.close();
  redis.disconnect();
  process.exit(0);
});
