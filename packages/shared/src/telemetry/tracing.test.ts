import { Writable } from "node:stream";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../logging/logger.js";
import { JobQueues } from "../queues/producer.js";
import { createWorker } from "../queues/worker.js";
import { deletePrefix, nextEvent, testRedis, uniquePrefix } from "../testing/index.js";
import { startTelemetry, type Telemetry } from "./telemetry.js";
import { SpanKind, withSpan } from "./tracing.js";

describe("one trace across a queue hop", () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let redis: Redis;
  const prefix = uniquePrefix("trace");

  beforeAll(() => {
    telemetry = startTelemetry({ serviceName: "hoist-test", exporter, env: {} });
    redis = testRedis();
  });
  afterAll(async () => {
    await telemetry.shutdown();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it("carries the trace context in the job, continues it in the worker, and stamps log lines with the trace id", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()));
        cb();
      },
    });
    const log = createLogger({ service: "test", level: "info" }, sink);
    const queues = new JobQueues(redis, prefix);
    const worker = createWorker({
      queue: "build",
      connection: redis,
      prefix,
      concurrency: 1,
      log,
      handlers: {
        build: async (_p, ctx) => {
          await withSpan("clone", { attributes: { "hoist.step": "clone" } }, async () => {
            ctx.log.info("cloning");
          });
        },
      },
    });
    const done = nextEvent(worker, "completed");
    const job = await withSpan("POST /webhooks/gitlab/:hookId", { kind: SpanKind.SERVER }, () =>
      queues.enqueue("build", { kind: "build", buildId: "bld_traced" }),
    );
    expect(job.data.trace?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await done;
    await worker.close();
    await queues.close();

    const spans = exporter.getFinishedSpans();
    const byName = (n: string) => spans.find((s) => s.name === n);
    const webhook = byName("POST /webhooks/gitlab/:hookId");
    const consumer = byName("build build");
    const clone = byName("clone");
    expect(webhook && consumer && clone).toBeTruthy();
    const traceId = webhook?.spanContext().traceId;
    expect(consumer?.spanContext().traceId).toBe(traceId);
    expect(clone?.spanContext().traceId).toBe(traceId);
    expect(consumer?.parentSpanContext?.spanId).toBe(webhook?.spanContext().spanId);
    expect(clone?.parentSpanContext?.spanId).toBe(consumer?.spanContext().spanId);
    expect(consumer?.attributes).toMatchObject({ "hoist.queue": "build", "hoist.build_id": "bld_traced", "hoist.job_kind": "build" });
    expect(consumer?.kind).toBe(SpanKind.CONSUMER);
    expect(lines.find((l) => l.msg === "cloning")).toMatchObject({ trace_id: traceId, jobId: "bld_traced" });
  });
});
