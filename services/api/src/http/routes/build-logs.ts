import { type BuildStatus, buildLogKey, followLog, idSchema, type LogEntry, NotFoundError, readLog } from "@hoist/shared";
import { type Request, type Response, Router } from "express";
import { z } from "zod";
import type { ApiDeps } from "../../deps.js";

const finished: readonly BuildStatus[] = ["succeeded", "failed", "canceled"];

const querySchema = z.object({
  follow: z.enum(["1", "true", "0", "false"], { error: "follow is 1 or 0" }).optional(),
  /** Stream id of the last entry already seen (the `next` of a previous answer). */
  after: z
    .string()
    .regex(/^\d+-\d+$/, "after is a log entry id such as 1732580000000-0")
    .optional(),
});

function lineOf(e: Extract<LogEntry, { kind: "line" }>) {
  return { id: e.id, time: e.time, step: e.step, line: e.line };
}

/** Heartbeat comments keep proxies from closing a quiet event stream. */
const HEARTBEAT_MS = 15_000;

/**
 * `GET /builds/:id/logs`: the build's log lines (JSON). With `?follow=1`, server-sent events:
 * `line` events (id = log entry id, so `Last-Event-ID` resumes), then one `end` event with the
 * build's final status, and the stream closes.
 */
export function buildLogsRouter(deps: ApiDeps): Router {
  const router = Router();
  const prefix = deps.config.HOIST_QUEUE_PREFIX;

  router.get("/builds/:id/logs", async (req: Request, res: Response) => {
    const id = idSchema.parse(req.params.id);
    const query = querySchema.parse(req.query);
    const build = await deps.records.builds.get(id);
    if (!build) throw new NotFoundError(`build ${id} not found`);
    const key = buildLogKey(prefix, id);
    const lastEventId = req.get("last-event-id");
    const after = query.after ?? (lastEventId && /^\d+-\d+$/.test(lastEventId) ? lastEventId : undefined);

    if (query.follow !== "1" && query.follow !== "true") {
      const entries = await readLog(deps.redis, key, after ? { afterId: after } : {});
      const lines = entries.filter((e): e is Extract<LogEntry, { kind: "line" }> => e.kind === "line").map(lineOf);
      res.json({ buildId: id, status: build.status, lines, next: entries.at(-1)?.id ?? after ?? null });
      return;
    }

    await streamLog(deps, res, id, after);
  });
  return router;
}

/** The log as server-sent events from `after` on, until the build ends or the client leaves. */
async function streamLog(deps: ApiDeps, res: Response, id: string, after: string | undefined): Promise<void> {
  const key = buildLogKey(deps.config.HOIST_QUEUE_PREFIX, id);
  res.status(200).set({
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no",
  });
  res.flushHeaders();
  const ctl = new AbortController();
  // XREAD BLOCK holds a connection: every follower gets its own, closed when it leaves.
  const blocking = deps.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: 1 });
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), HEARTBEAT_MS);
  res.on("close", () => ctl.abort());
  const send = (event: string, id: string | undefined, data: unknown) => {
    res.write(`${id ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  let ended = false;
  try {
    for await (const e of followLog(blocking, key, {
      ...(after ? { afterId: after } : {}),
      signal: ctl.signal,
      isOver: async () => {
        const cur = await deps.records.builds.get(id);
        return !cur || finished.includes(cur.status);
      },
    })) {
      if (e.kind === "line") send("line", e.id, lineOf(e));
      else {
        send("end", e.id, { status: e.status });
        ended = true;
      }
    }
    if (!ended && !ctl.signal.aborted) {
      // The build ended without an end marker (canceled while queued, or its worker died).
      const cur = await deps.records.builds.get(id);
      send("end", undefined, { status: cur?.status ?? "unknown" });
    }
  } catch (err) {
    if (!ctl.signal.aborted) send("error", undefined, { message: "the log stream broke; reconnect with Last-Event-ID to resume" });
    deps.log.warn({ buildId: id, err: err instanceof Error ? err.message : String(err) }, "log follow ended with an error");
  } finally {
    clearInterval(heartbeat);
    blocking.disconnect();
    res.end();
  }
}
