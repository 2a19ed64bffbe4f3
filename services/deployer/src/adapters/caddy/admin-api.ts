import { Agent, fetch, type Response } from "undici";
import { z } from "zod";

/** What Caddy's admin endpoint answered, with what to do about it. */
export class CaddyAdminError extends Error {
  override name = "CaddyAdminError";
  constructor(
    message: string,
    readonly status: number | undefined,
    /** false when repeating the same call cannot help (Caddy rejected the config, or the object is missing). */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const errorBodySchema = z.object({ error: z.string() });

/** FNV-1a 32 of a GET answer: Caddy's ETag of that config path (Caddy 2.6 sends it as a trailer fetch cannot read). */
export function configHash(body: string): string {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(body, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

function hintFor(status: number, caddyError: string): { hint: string; retryable: boolean } {
  if (status === 412)
    return { hint: "another writer changed this part of Caddy's config meanwhile; read it again and retry", retryable: true };
  if (status === 403)
    return {
      hint: "the admin endpoint refuses this Host/Origin: point HOIST_CADDY_ADMIN_URL at its exact listen address",
      retryable: false,
    };
  if (/unknown object ID|key does not exist|invalid traversal path/.test(caddyError))
    return {
      hint: "that part of the config does not exist (Caddy restarted empty, or the route was removed): ensure the route first",
      retryable: false,
    };
  if (/key already exists/.test(caddyError)) return { hint: "it exists already: read it and PATCH it instead", retryable: false };
  if (/address already in use/.test(caddyError))
    return {
      hint: "another process holds that port (another deployer's own Caddy? deployers on one host must share one Caddy: set HOIST_CADDY_ADMIN_URL for all of them), or two apps share a port",
      retryable: false,
    };
  if (/^loading new config/.test(caddyError))
    return { hint: "Caddy rejected the new config and kept the previous one running; fix the value named above", retryable: false };
  return { hint: "see Caddy's log for details", retryable: status >= 500 };
}

/**
 * Caddy's admin endpoint, one fresh connection per call: Caddy restarts its admin server on every
 * config change and closes pooled keep-alive sockets, so a reused socket could fail a call that was fine.
 */
export class CaddyAdminApi {
  private readonly dispatcher = new Agent({ pipelining: 0 });
  readonly url: string;

  constructor(
    url: string,
    // A config change waits until Caddy's previous servers let go of their connections (slow requests included).
    private readonly timeoutMs = 30_000,
  ) {
    this.url = url.replace(/\/+$/, "");
  }

  /** GET a path; the raw text is what Caddy hashes for If-Match. */
  async getText(path: string): Promise<string> {
    return (await this.call("GET", path)).text;
  }

  async get<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    const text = await this.getText(path);
    const parsed = schema.safeParse(JSON.parse(text));
    if (!parsed.success)
      throw new CaddyAdminError(
        `Caddy's admin API GET ${path} answered something Hoist does not understand: ${z.prettifyError(parsed.error)}. Is ${this.url} a Caddy 2 admin endpoint?`,
        200,
        false,
      );
    return parsed.data;
  }

  /** A config change; with ifMatch `[configPath, hash]` Caddy applies it only if that path still hashes so. */
  async change(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body?: unknown, ifMatch?: [string, string]): Promise<void> {
    await this.call(method, path, body, ifMatch);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async call(method: string, path: string, body?: unknown, ifMatch?: [string, string]): Promise<{ text: string }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (ifMatch) headers["if-match"] = `"${ifMatch[0]} ${ifMatch[1]}"`;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        dispatcher: this.dispatcher,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CaddyAdminError(
        `Caddy's admin API at ${this.url} did not answer ${method} ${path} (${cause?.code ?? cause?.message ?? (err as Error).message}): is Caddy running with its admin endpoint there? Set HOIST_CADDY_ADMIN_URL to it.`,
        undefined,
        true,
      );
    }
    const text = await res.text();
    if (res.ok) return { text };
    const parsed = errorBodySchema.safeParse(safeJson(text));
    const caddyError = parsed.success ? parsed.data.error : text.slice(0, 300);
    const { hint, retryable } = hintFor(res.status, caddyError);
    throw new CaddyAdminError(`Caddy's admin API ${method} ${path} answered ${res.status}: ${caddyError}. ${hint}.`, res.status, retryable);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
