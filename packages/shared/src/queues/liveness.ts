import { type Job, Worker } from "bullmq";
import type { Logger } from "pino";

/**
 * A BullMQ worker that knows when its fetch loop last moved: when it last started a blocking
 * wait for jobs (the previous wait returned, with a job or without) or got a fetch's answer. An
 * idle worker on an empty queue moves every few seconds (each blocking wait lasts at most 5 s);
 * a worker whose loop hangs (BullMQ's "alive but takes no job" after a failover) does not.
 */
export class TrackedWorker extends Worker {
  /** When the fetch loop last moved (ms since the epoch). */
  lastFetchAt = Date.now();
  /** Jobs this worker is running now. */
  inFlight = 0;

  protected override getBlockTimeout(blockUntil: number): number {
    this.lastFetchAt = Date.now();
    return super.getBlockTimeout(blockUntil);
  }

  // Called as soon as a wait returns (woken by a new job): the loop moved before the fetch's
  // round trip, so a look in between does not find it unmoved.
  protected override moveToActive(...args: Parameters<Worker["moveToActive"]>): Promise<Job> {
    this.lastFetchAt = Date.now();
    return super.moveToActive(...args);
  }

  protected override nextJobFromJobData(...args: Parameters<Worker["nextJobFromJobData"]>): Promise<Job> {
    this.lastFetchAt = Date.now();
    return super.nextJobFromJobData(...args);
  }

  protected override async callProcessJob(...args: Parameters<Worker["callProcessJob"]>): Promise<unknown> {
    this.inFlight++;
    try {
      return await super.callProcessJob(...args);
    } finally {
      this.inFlight--;
      // A freed slot restarts the clock: the loop had no reason to fetch while every slot was busy.
      this.lastFetchAt = Date.now();
    }
  }
}

/** What /healthz says about a supervised worker. */
export interface LivenessState {
  /** How many times the worker was found stuck and created again since the process started. */
  recreated: number;
  lastRecreatedAt?: string;
  lastReason?: string;
  /** Seconds since the fetch loop last moved. */
  sinceFetchS: number;
}

interface SuperviseOptions {
  queue: string;
  /** Creates the worker (with every listener it needs): called at start and for each recreation. */
  create: () => TrackedWorker;
  /** The worker's Redis connection: a worker is judged stuck only while it is ready. */
  connection: { status: string };
  /** Jobs waiting in the queue (a producer connection: it must answer while the worker hangs). */
  waiting: () => Promise<number>;
  concurrency: number;
  stuckMs: number;
  log: Logger;
  /** How often to look; a fifth of stuckMs by default. */
  checkMs?: number;
  /** How long a stuck worker's close may take before it is disconnected. */
  closeTimeoutMs?: number;
}

/**
 * Keeps a worker that takes jobs. Every `checkMs` it looks: a worker whose Redis connection is
 * ready, that has a free slot and jobs waiting, but whose fetch loop has not moved for `stuckMs`
 * is stuck, once two looks in a row find it so with the loop unmoved between them (one look can
 * fall between a job's arrival and the fetch it wakes). It is closed (its running jobs finish) and a new worker is created in its place, said in the log (`worker stuck; recreating`) and in
 * `/healthz` (`state()`).
 */
export class WorkerSupervisor {
  private worker: TrackedWorker;
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  private closed = false;
  private recreated = 0;
  private last: { at: string; reason: string } | undefined;
  /** The previous look's finding, when it found the worker stuck: the next must find the same. */
  private suspect: { worker: TrackedWorker; lastFetchAt: number } | undefined;

  constructor(private readonly opts: SuperviseOptions) {
    this.worker = opts.create();
    this.timer = setInterval(() => void this.check(), opts.checkMs ?? Math.max(1_000, Math.floor(opts.stuckMs / 5)));
    this.timer.unref();
  }

  get current(): TrackedWorker {
    return this.worker;
  }

  isRunning(): boolean {
    return this.worker.isRunning();
  }

  state(): LivenessState {
    return {
      recreated: this.recreated,
      ...(this.last ? { lastRecreatedAt: this.last.at, lastReason: this.last.reason } : {}),
      sinceFetchS: Math.round((Date.now() - this.worker.lastFetchAt) / 1000),
    };
  }

  /** One look; exported for tests, which call it instead of waiting for the interval. */
  async check(): Promise<boolean> {
    if (this.checking || this.closed) return false;
    this.checking = true;
    try {
      const w = this.worker;
      const seen = w.lastFetchAt;
      const idleMs = Date.now() - seen;
      const waiting =
        idleMs < this.opts.stuckMs ||
        this.opts.connection.status !== "ready" ||
        !w.isRunning() ||
        w.isPaused() ||
        w.inFlight >= this.opts.concurrency
          ? 0
          : await this.opts.waiting().catch(() => 0);
      if (waiting === 0 || this.closed || w !== this.worker || w.lastFetchAt !== seen) {
        this.suspect = undefined;
        return false;
      }
      const confirmed = this.suspect?.worker === w && this.suspect.lastFetchAt === seen;
      this.suspect = { worker: w, lastFetchAt: seen };
      if (!confirmed) return false;
      this.suspect = undefined;
      const reason = `no fetch for ${Math.round(idleMs / 1000)} s with ${waiting} job(s) waiting and ${this.opts.concurrency - w.inFlight} free slot(s), connection ready`;
      this.opts.log.warn({ queue: this.opts.queue, idleMs, waiting, inFlight: w.inFlight }, "worker stuck; recreating");
      this.worker = this.opts.create();
      this.recreated++;
      this.last = { at: new Date().toISOString(), reason };
      void this.retire(w);
      return true;
    } finally {
      this.checking = false;
    }
  }

  /**
   * Closes a stuck worker: its running jobs finish (a forced close would abort them). A close
   * that hangs (its blocking call never returns) is left to hang: the worker's connection is
   * shared with its replacement and must not be cut; a job it still fetches is run and finished
   * like any other.
   */
  private async retire(w: TrackedWorker): Promise<void> {
    const timeout = new Promise<"still closing">((r) => setTimeout(() => r("still closing"), this.opts.closeTimeoutMs ?? 30_000).unref());
    const outcome = await Promise.race([w.close().then(() => "closed" as const), timeout]).catch(
      (err: unknown) => `close failed: ${err instanceof Error ? err.message : String(err)}`,
    );
    this.opts.log.info({ queue: this.opts.queue, outcome }, "stuck worker retired");
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.worker.close();
  }
}
