// The reference for `pnpm bench:ingress`, bare node:http on the same Redis, two paths:
//   POST /webhook        the least a webhook receiver can do: parse, queue.add the build, 202.
//   POST /webhook/notify what a competent receiver does for a team that is told about its
//                        pushes: checks the GitLab token (constant time), queues the build and
//                        the "pending" notifications (GitLab status, outgoing webhook) at once, 202.
import { timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { Queue } from "bullmq";
import { Redis } from "ioredis";

const { REDIS_URL, PORT, PREFIX, TOKEN } = process.env;
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
await new Promise((resolve) => redis.once("ready", resolve));
const build = new Queue("build", { connection: redis, prefix: PREFIX });
const notify = new Queue("notify", { connection: redis, prefix: PREFIX });
const token = Buffer.from(TOKEN ?? "");

const answer = (res, status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    try {
      const payload = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      if (req.url === "/webhook/notify") {
        const given = Buffer.from(String(req.headers["x-gitlab-token"] ?? ""));
        if (given.length !== token.length || !timingSafeEqual(given, token)) return answer(res, 401, { error: "bad token" });
        const [job] = await Promise.all([
          build.add("build", payload),
          notify.addBulk([
            { name: "gitlab-status", data: { sha: payload.checkout_sha, state: "pending" } },
            { name: "webhook", data: { sha: payload.checkout_sha, event: "build.pending" } },
          ]),
        ]);
        return answer(res, 202, { status: "queued", jobId: job.id });
      }
      const job = await build.add("build", payload);
      answer(res, 202, { status: "queued", jobId: job.id });
    } catch (err) {
      answer(res, 503, { error: String(err) });
    }
  });
});
server.listen(Number(PORT), "127.0.0.1", () => process.stdout.write("ready\n"));
process.on("SIGTERM", async () => {
  server.close();
  await Promise.all([build.close(), notify.close()]);
  redis.disconnect();
  process.exit(0);
});
