import { ApiError } from "./errors.js";

type Json = Record<string, unknown>;

/** A thin client of Hoist's REST API; every error becomes an ApiError with the API's own message. */
export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async request<T = Json>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: "application/json",
          // The audit log tells the CLI's requests apart (via: cli).
          "user-agent": "hoist-cli/1",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err));
      throw new ApiError(0, "unreachable", `cannot reach the Hoist API at ${this.url} (${cause})`);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new ApiError(res.status, "bad_response", `the API answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (data as { error?: { code?: string; message?: string } }).error;
      throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? `HTTP ${res.status}`);
    }
    return data as T;
  }

  get<T = Json>(path: string) {
    return this.request<T>("GET", path);
  }
  post<T = Json>(path: string, body: unknown = {}) {
    return this.request<T>("POST", path, body);
  }
  patch<T = Json>(path: string, body: unknown) {
    return this.request<T>("PATCH", path, body);
  }
  delete<T = Json>(path: string) {
    return this.request<T>("DELETE", path);
  }

  /** Reads a server-sent events stream, calling `onEvent` per event, until the server ends it. */
  async stream(path: string, onEvent: (event: string, data: string) => void, signal?: AbortSignal): Promise<void> {
    const res = await fetch(`${this.url}${path}`, {
      headers: { authorization: `Bearer ${this.token}`, accept: "text/event-stream" },
      signal,
    }).catch((err: unknown) => {
      throw new ApiError(
        0,
        "unreachable",
        `cannot reach the Hoist API at ${this.url} (${err instanceof Error ? err.message : String(err)})`,
      );
    });
    if (!res.ok || !res.body) {
      const text = await res.text();
      let message = `HTTP ${res.status}`;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
      } catch {}
      throw new ApiError(res.status, String(res.status), message);
    }
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let sep = buffer.indexOf("\n\n");
      while (sep !== -1) {
        const raw = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of raw.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(event, data.join("\n"));
        sep = buffer.indexOf("\n\n");
      }
    }
  }
}
