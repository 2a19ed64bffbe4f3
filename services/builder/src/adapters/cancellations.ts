/**
 * The builds this process runs, by id, so a cancel announcement (Redis pub/sub) can abort the
 * right one at once.
 */
export class Cancellations {
  private readonly running = new Map<string, AbortController>();

  register(buildId: string): { signal: AbortSignal; release(): void } {
    const ctl = new AbortController();
    this.running.set(buildId, ctl);
    return {
      signal: ctl.signal,
      release: () => {
        if (this.running.get(buildId) === ctl) this.running.delete(buildId);
      },
    };
  }

  cancel(buildId: string): boolean {
    const ctl = this.running.get(buildId);
    if (!ctl) return false;
    ctl.abort(new CanceledError(buildId));
    return true;
  }

  get size(): number {
    return this.running.size;
  }
}

export class CanceledError extends Error {
  override name = "CanceledError";
  constructor(buildId: string) {
    super(`build ${buildId} was canceled`);
  }
}

export class TimedOutError extends Error {
  override name = "TimedOutError";
}
