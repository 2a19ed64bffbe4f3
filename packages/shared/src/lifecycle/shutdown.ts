import type { Logger } from "pino";

type Closer = () => Promise<unknown> | unknown;

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;
type ShutdownSignal = keyof typeof SIGNAL_NUMBERS;

/**
 * Closes what a process opened, newest first (HTTP server and workers stop taking work before
 * their connections go), each awaited, all within one bound; then exits 128+signal.
 */
export class ShutdownRegistry {
  private readonly closers: { name: string; close: Closer }[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {}

  register(name: string, close: Closer): void {
    this.closers.push({ name, close });
  }

  /** Runs every closer; resolves true when all finished within the bound. */
  async closeAll(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.timeoutMs);
      timer.unref();
    });
    const work = (async () => {
      for (const { name, close } of [...this.closers].reverse()) {
        try {
          await close();
          this.log.debug({ name }, "closed");
        } catch (err) {
          this.log.error({ name, err: err instanceof Error ? err.message : String(err) }, "close failed");
        }
      }
      return true as const;
    })();
    const finished = await Promise.race([work, bound]);
    clearTimeout(timer);
    if (!finished) this.log.warn({ timeoutMs: this.timeoutMs }, "shutdown bound reached; exiting with work still closing");
    return finished;
  }

  /** Handles one signal: a second one while closing exits at once. */
  trigger(signal: ShutdownSignal): Promise<void> {
    const code = 128 + SIGNAL_NUMBERS[signal];
    if (this.running) {
      this.log.warn({ signal }, "second signal, exiting now");
      this.exit(code);
      return this.running;
    }
    this.log.info({ signal }, "shutting down");
    this.running = this.closeAll().then(() => this.exit(code));
    return this.running;
  }

  install(): void {
    for (const signal of Object.keys(SIGNAL_NUMBERS) as ShutdownSignal[]) {
      process.on(signal, () => void this.trigger(signal));
    }
  }
}
