/**
 * Re-reads `read()` until `done` holds or `timeoutMs` passes (then throws with the last value).
 * Chaos scenarios wait on state several processes change, where no single event says "done".
 */
export async function untilSettled<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`not settled within ${timeoutMs} ms: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
