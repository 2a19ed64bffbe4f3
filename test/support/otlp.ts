import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A span as received over OTLP/HTTP JSON, flattened for assertions. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };
type ExportRequest = {
  resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[];
};

const anyValue = (v: AnyValue): string | number | boolean =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ""));

/**
 * An OTLP/HTTP trace receiver (JSON encoding: run the services with
 * OTEL_EXPORTER_OTLP_PROTOCOL=http/json), so a test can see the spans of several processes.
 */
export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  server: Server;
  /** Resolves once the received spans satisfy `done`, or rejects after `timeoutMs`. */
  waitFor(done: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportRequest;
        for (const rs of body.resourceSpans ?? []) {
          const service = String(anyValue(rs.resource?.attributes?.find((a) => a.key === "service.name")?.value ?? {}));
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                service,
                traceId: String(s.traceId ?? ""),
                spanId: String(s.spanId ?? ""),
                parentSpanId: String(s.parentSpanId ?? ""),
                name: String(s.name ?? ""),
                attributes: Object.fromEntries(((s.attributes as KeyValue[] | undefined) ?? []).map((a) => [a.key, anyValue(a.value)])),
              });
            }
          }
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
        for (const wake of [...waiters]) wake();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    server,
    waitFor: (done, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!done(spans)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(spans);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`spans did not arrive within ${timeoutMs} ms; received: ${spans.map((s) => `${s.service}:${s.name}`).join(", ")}`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () => new Promise((r) => server.close(() => r())),
  };
}
