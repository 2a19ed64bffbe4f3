import { type Attributes, context, propagation, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";

/**
 * Looked up on every use, never cached at import: the SDK may load another copy of
 * @opentelemetry/api (CJS beside our ESM), and a tracer taken before the SDK started would stay
 * a no-op forever.
 */
function tracer() {
  return trace.getTracer("hoist");
}

interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/** The active trace as W3C headers, to carry in a job payload; undefined when tracing is off. */
export function currentTraceContext(): TraceContext | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (!carrier.traceparent) return undefined;
  return carrier.tracestate ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate } : { traceparent: carrier.traceparent };
}

/**
 * Runs `fn` in a span that continues the trace carried by a job (or the active one), so one push
 * is one trace across the API and every worker process.
 */
export async function withSpan<T>(
  name: string,
  opts: { attributes?: Attributes; parent?: TraceContext; kind?: SpanKind },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parentCtx = opts.parent ? propagation.extract(context.active(), { ...opts.parent }) : context.active();
  return tracer().startActiveSpan(
    name,
    { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes ?? {} },
    parentCtx,
    async (span) => {
      try {
        const result = await fn(span);
        span.setStatus({ code: SpanStatusCode.OK });
        return result;
      } catch (err) {
        span.recordException(err instanceof Error ? err : new Error(String(err)));
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** Trace and span ids of the active span, for log lines. */
export function activeTraceIds(): { trace_id: string; span_id: string } | Record<string, never> {
  const span = trace.getActiveSpan();
  const ctx = span?.spanContext();
  if (!ctx || !trace.isSpanContextValid(ctx)) return {};
  return { trace_id: ctx.traceId, span_id: ctx.spanId };
}

export { SpanKind };
