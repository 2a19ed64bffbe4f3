import { randomBytes } from "node:crypto";
import {
  type App,
  type Build,
  createLogger,
  createWorker,
  type JobContext,
  JobQueues,
  LocalSecretBox,
  type NotifyPayload,
  newId,
  outboundFetch,
  parseOutboundAllow,
  Records,
  type Redis,
  type SecretBox,
  secretContexts,
} from "@hoist/shared";
import { deletePrefix, nextEvent, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { SentMarkers } from "../../services/notifier/src/adapters/sent-marker.js";
import { handlers } from "../../services/notifier/src/jobs/handlers.js";
import { deploymentRoutes } from "../support/gitlab/deployments.js";
import { type GitlabTestServer, type RouteModule, startGitlabServer } from "../support/gitlab/server.js";
import { statusRoutes } from "../support/gitlab/statuses.js";
import { userRoutes } from "../support/gitlab/users.js";
import { SlackReceiver } from "../support/receivers/slack.js";
import { WebhookConsumer } from "../support/receivers/webhook-consumer.js";

type Job = JobContext["job"];
type Worker = ReturnType<typeof createWorker>;
/** BullMQ's typed `on` overloads, seen as the plain emitter nextEvent takes. */
type Emitter<A extends unknown[]> = { on(e: string, fn: (...a: A) => void): unknown; off(e: string, fn: (...a: A) => void): unknown };
type JobsOptions = NonNullable<Parameters<JobQueues["enqueue"]>[2]>;

export const PUBLIC_URL = "https://hoist.example.com";
export const SHA = "9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c";
const GITLAB_TOKEN = `glpat-${randomBytes(10).toString("hex")}`;
/** Tests reach their receivers on 127.0.0.1 and nothing else: the only address they allow. */
export const TEST_OUTBOUND = parseOutboundAllow("127.0.0.1");

/**
 * One integration world per test: its own prefix in the real Redis, a GitLab test server with
 * the statuses module, a Slack receiver, a webhook consumer, and (on request) a notify worker.
 */
export class NotifierWorld {
  readonly prefix = uniquePrefix("notify");
  readonly redis: Redis = testRedis();
  readonly records = new Records(this.redis, this.prefix);
  readonly queues = new JobQueues(this.redis, this.prefix);
  readonly secrets: SecretBox;
  gitlab!: GitlabTestServer;
  readonly slack = new SlackReceiver();
  readonly consumer = new WebhookConsumer();
  worker: Worker | undefined;
  projectId = 0;
  /** The worker's outbound fetch. */
  readonly fetch = outboundFetch({ policy: TEST_OUTBOUND });

  constructor(masterKey: Buffer = randomBytes(32)) {
    this.secrets = new LocalSecretBox(masterKey);
  }

  /** `before`: route modules that see status requests first (e.g. to hold an answer back). */
  async start(before: RouteModule[] = []): Promise<this> {
    this.gitlab = await startGitlabServer([userRoutes, ...before, statusRoutes, deploymentRoutes]);
    const bot = this.gitlab.state.addUser("hoist-bot", GITLAB_TOKEN);
    const project = this.gitlab.state.addProject(
      { path_with_namespace: "acme/shop", default_branch: "main", ssh_url_to_repo: "ssh://git@127.0.0.1/acme/shop.git" },
      this.gitlab.url,
    );
    this.gitlab.state.addMember(project, bot, "developer");
    this.gitlab.state.addCommit(project, SHA, ["main"]);
    this.projectId = project.id;
    await this.slack.start();
    await this.consumer.start();
    return this;
  }

  /** A GitLab connection record whose token is sealed for its own id, as the API stores it. */
  async connection(): Promise<string> {
    const id = newId("glc");
    const token = await this.secrets.seal(GITLAB_TOKEN, secretContexts.gitlabToken(id));
    await this.records.gitlabConnections.create({ id, url: this.gitlab.url, token, username: "hoist-bot" });
    return id;
  }

  async app(opts: { slack?: string | false; webhook?: boolean; gitlab?: boolean; name?: string } = {}): Promise<App> {
    const name = opts.name ?? "shop";
    const slackUrl = opts.slack === undefined ? this.slack.webhookUrl() : opts.slack;
    return this.records.apps.create({
      name,
      branch: "main",
      repo: { sshUrl: "ssh://git@127.0.0.1/acme/shop.git" },
      target: { kind: "local", services: {} },
      supersede: "running",
      tagBuilds: true,
      buildTimeoutSec: 1800,
      ...(opts.gitlab === false
        ? {}
        : { gitlab: { connectionId: await this.connection(), projectId: this.projectId, webUrl: `${this.gitlab.url}/acme/shop` } }),
      ...(slackUrl ? { slackWebhookUrl: await this.secrets.seal(slackUrl, secretContexts.slackWebhookUrl(name)) } : {}),
      ...(opts.webhook
        ? {
            outgoingWebhook: {
              url: this.consumer.url,
              secret: await this.secrets.seal(this.consumer.secret, secretContexts.outgoingWebhookSecret(name)),
            },
          }
        : {}),
    });
  }

  async build(app: string, over: Partial<Build> = {}): Promise<Build> {
    const b = await this.records.builds.create({
      app,
      ref: "main",
      sha: SHA,
      trigger: "push",
      commit: { title: "Add gift cards", author: "Grace Hopper", url: `${this.gitlab.url}/acme/shop/-/commit/${SHA}` },
    });
    if (Object.keys(over).length) await this.records.builds.patch(b.id, over);
    return this.records.builds.require(b.id);
  }

  startWorker(defaultSlackWebhookUrl?: string): Worker {
    this.worker = createWorker({
      queue: "notify",
      connection: this.redis,
      prefix: this.prefix,
      concurrency: 4,
      log: createLogger({ service: "notifier-test", level: "silent" }),
      handlers: handlers({
        log: createLogger({ service: "notifier-test", level: "silent" }),
        records: this.records,
        secrets: this.secrets,
        markers: new SentMarkers(this.redis, this.prefix),
        publicUrl: PUBLIC_URL,
        fetch: this.fetch,
        defaultSlackWebhookUrl,
        timeoutMs: 5_000,
      }),
    });
    return this.worker;
  }

  /** Enqueues a notify job and waits until the worker completes or finally fails it. */
  async run(payload: NotifyPayload, opts: JobsOptions = {}, timeoutMs = 15_000): Promise<{ job: Job; result?: unknown; error?: Error }> {
    const worker = this.worker ?? this.startWorker();
    const added = await this.queues.enqueue("notify", payload, opts);
    const done = Promise.race([
      nextEvent<[Job, unknown]>(worker as unknown as Emitter<[Job, unknown]>, "completed", (j) => j.id === added.id, timeoutMs).then(
        ([job, result]) => ({ job, result }),
      ),
      nextEvent<[Job | undefined, Error]>(
        worker as unknown as Emitter<[Job | undefined, Error]>,
        "failed",
        (j) => j !== undefined && j.id === added.id && j.finishedOn !== undefined,
        timeoutMs,
      ).then(([job, error]) => ({ job: job as Job, error })),
    ]);
    return done;
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queues.close();
    await Promise.all([this.gitlab?.close(), this.slack.close(), this.consumer.close()]);
    await deletePrefix(this.redis, this.prefix);
    this.redis.disconnect();
  }
}
