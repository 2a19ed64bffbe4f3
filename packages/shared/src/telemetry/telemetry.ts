import { NodeSDK } from "@opentelemetry/sdk-node";
import { SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";

export interface Telemetry {
  enabled: boolean;
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing when an OTLP endpoint is configured (the SDK reads the standard
 * OTEL_* variables) or a test exporter is handed in; otherwise tracing stays off and costs nothing.
 */
export function startTelemetry(opts: { serviceName: string; env?: NodeJS.ProcessEnv; exporter?: SpanExporter }): Telemetry {
  const env = opts.env ?? process.env;
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!opts.exporter && !endpoint) return { enabled: false, shutdown: async () => {} };
  const sdk = new NodeSDK({
    serviceName: opts.serviceName,
    // A handed-in (test) exporter gets every span as it ends; OTLP batches.
    ...(opts.exporter ? { spanProcessors: [new SimpleSpanProcessor(opts.exporter)] } : {}),
  });
  sdk.start();
  return { enabled: true, shutdown: () => sdk.shutdown() };
}
