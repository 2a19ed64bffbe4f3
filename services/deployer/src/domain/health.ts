/** Splits Docker's multiplexed log stream (8-byte frame headers) into text; a TTY stream passes as is. */
export function demuxDockerLogs(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const type = buf[i];
    if (type !== 0 && type !== 1 && type !== 2) return buf.toString("utf8");
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  if (i !== buf.length) return buf.toString("utf8");
  return Buffer.concat(parts).toString("utf8");
}

/** The last `n` non-empty lines of a log text. */
export function lastLines(text: string, n: number): string[] {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== "")
    .slice(-n);
}

type HealthResult = { ok: true; ms: number } | { ok: false; why: string };

/**
 * Polls `url` until it answers 2xx, `deadlineMs` passes, or `stillRunning` says the process is
 * gone (no point waiting out the timeout for a container that exited).
 */
export async function waitForHttp2xx(
  url: string,
  deadlineMs: number,
  opts: { intervalMs?: number; stillRunning?: () => Promise<boolean>; signal?: AbortSignal | undefined } = {},
): Promise<HealthResult> {
  const start = Date.now();
  const interval = opts.intervalMs ?? 250;
  let last = "no answer yet";
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.min(2_000, Math.max(100, deadlineMs))), redirect: "manual" });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, ms: Date.now() - start };
      last = `answered ${res.status}`;
    } catch (err) {
      last = `not answering (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`;
    }
    if (opts.stillRunning && !(await opts.stillRunning())) return { ok: false, why: `exited; ${last}` };
    if (opts.signal?.aborted) return { ok: false, why: `aborted; ${last}` };
    if (Date.now() - start >= deadlineMs) return { ok: false, why: `${last} after ${Math.round(deadlineMs / 1000)} s` };
    await new Promise((r) => setTimeout(r, interval));
  }
}
