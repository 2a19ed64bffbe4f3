import { JobQueues } from "@hoist/shared";
import { deletePrefix, testRedis, uniquePrefix } from "@hoist/shared/testing";
import { afterAll, describe, expect, it } from "vitest";
import { startOtlpReceiver } from "./support/otlp.js";
import { startService } from "./support/processes.js";

describe("traces across processes", () => {
  const redis = testRedis();
  const prefix = uniquePrefix("otlp");
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it("a worker process continues the trace carried in its job and exports it over OTLP", async () => {
    const receiver = await startOtlpReceiver();
    const builder = startService("builder", {
      REDIS_URL: process.env.REDIS_URL as string,
      HOIST_QUEUE_PREFIX: prefix,
      HOIST_DATA_DIR: "/tmp/hoist-otlp-test",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "50",
      OTEL_TRACES_SAMPLER: "parentbased_always_on",
      OTEL_METRICS_EXPORTER: "none",
      OTEL_LOGS_EXPORTER: "none",
    });
    try {
      await builder.waitForLog(/"msg":"ready"/);
      const queues = new JobQueues(redis, prefix);
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const parentSpanId = "00f067aa0ba902b7";
      await queues.enqueue("build", { kind: "build", buildId: "bld_otlp", trace: { traceparent: `00-${traceId}-${parentSpanId}-01` } });
      await queues.close();
      // (No build record: the builder fails the job at once; its span still belongs to the trace.)
      await receiver.waitFor((spans) => spans.some((s) => s.traceId === traceId));
      const span = receiver.spans.find((s) => s.traceId === traceId);
      expect(span).toMatchObject({
        service: "hoist-builder",
        name: "build build",
        parentSpanId,
        attributes: { "hoist.queue": "build", "hoist.build_id": "bld_otlp" },
      });
    } finally {
      await builder.stop();
      await receiver.close();
    }
  });
});
