import { type App, type PreviewsPayload, previewSettingsOf, previewsQueue } from "@hoist/shared";
import { z } from "zod";
import type { BuildDeps } from "./builds.js";
import { DELIVERY_TTL_MS } from "./deliveries.js";
import { InvalidInputError } from "./errors.js";
import { decideMergeRequest } from "./merge-request-event.js";

/** What a Merge Request Hook delivery came to. */
export type MergeRequestOutcome =
  /** A previews job is in Redis: `open` builds the MR's commit, `close` tears its preview down. */
  | { kind: "preview"; job: "open" | "close"; iid: number; jobId: string; author?: string }
  /** The same delivery (Idempotency-Key, else body) again: its job is the first's. */
  | { kind: "preview-duplicate"; iid: number; jobId: string }
  | { kind: "ignored"; reason: string };

const mrUrl = z.url({ protocol: /^https?$/ }).max(2048);

/**
 * A Merge Request Hook (docs/previews.md#the-hook): decides with decideMergeRequest, then stores a
 * `previews` job before the caller answers. Once per delivery: the delivery's dedupe key is
 * claimed with the job's id (48 h, as pushes), and a delivery seen again stores nothing new
 * (should the first have died before its job, the same job is stored now: its id is fixed). A
 * new delivery for a commit whose job has finished (an MR closed and reopened at the same commit)
 * runs it again. A malformed payload throws InvalidInputError (400).
 */
export async function acceptMergeRequest(
  deps: BuildDeps,
  app: App,
  payload: unknown,
  deliveryKey: string,
  dedupeKey: string,
): Promise<MergeRequestOutcome> {
  const decision = decideMergeRequest(payload);
  if (decision.action === "reject") throw new InvalidInputError("invalid_payload", decision.message);
  if (decision.action === "ignore") return { kind: "ignored", reason: decision.reason };
  const { mr } = decision;
  const settings = previewSettingsOf(app);
  let job: PreviewsPayload;
  if (decision.action === "build") {
    if (!settings.enabled) {
      return {
        kind: "ignored",
        reason: `previews are not enabled for app ${app.name} (PATCH /v1/apps/${app.name} with previews.enabled: true)`,
      };
    }
    job = {
      kind: "open",
      app: app.name,
      iid: mr.iid,
      sha: decision.sha,
      sourceBranch: mr.sourceBranch,
      authorId: mr.authorId,
      fork: mr.fork,
      ...(mr.url && mrUrl.safeParse(mr.url).success ? { mrUrl: mr.url } : {}),
      ...(mr.title ? { title: mr.title } : {}),
      deliveryId: deliveryKey,
    };
  } else {
    // With previews turned off, a preview made before still goes when its MR closes.
    if (!settings.enabled && !(await deps.records.previews.get(app.name, mr.iid))) {
      return { kind: "ignored", reason: `previews are not enabled for app ${app.name}, and merge request !${mr.iid} has no preview` };
    }
    job = { kind: "close", app: app.name, iid: mr.iid, reason: decision.reason, deliveryId: deliveryKey };
  }
  const jobId = previewsQueue.jobId(job);
  const claimed = await deps.redis.set(dedupeKey, `previews:${jobId}`, "PX", DELIVERY_TTL_MS, "NX");
  if (claimed !== "OK") {
    await deps.queues.enqueue("previews", job);
    return { kind: "preview-duplicate", iid: mr.iid, jobId };
  }
  try {
    const queue = deps.queues.queue("previews");
    const existing = await queue.getJob(jobId);
    if (existing && ((await existing.isCompleted()) || (await existing.isFailed()))) await existing.remove();
    await deps.queues.enqueue("previews", job);
  } catch (err) {
    await deps.redis.del(dedupeKey).catch(() => undefined);
    throw err;
  }
  const author = (payload as { user?: { username?: unknown } }).user?.username;
  return { kind: "preview", job: job.kind, iid: mr.iid, jobId, ...(typeof author === "string" ? { author } : {}) };
}
