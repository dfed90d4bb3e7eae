// The work queue between informers and reconcile (the client-go workqueue contract, after
// pepr's per-key queue): informer handlers only add keys here.
// - A key waiting in the queue is there once, however often it is added (dedupe).
// - A key is never processed twice at once: added while running, it runs again after.
// - Up to `concurrency` different keys run in parallel.
// - A failure is retried after a capped, equal-jittered, per-key exponential backoff
//   (common/backoff.ts); a TerminalError (invalid input) is not retried: it is reported by
//   the reconciler.
import { checkBackoffPolicy, equalJitterBackoff, type BackoffPolicy } from '../common/backoff.js';

/** A failure that retrying cannot fix (invalid input); the queue drops the key. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export type Processor = (key: string) => Promise<void>;

export type Outcome = 'success' | 'error' | 'terminal';

export interface QueueHooks {
  /** Queue depth changed (keys waiting, not running). */
  depth?(depth: number): void;
  /** A key was put in the queue (not counted: an add of a key already waiting). */
  added?(): void;
  /** A key started, after waiting this long since it was (first) added. */
  latency?(seconds: number): void;
  /** A key finished. `retryInMs` is set when it will run again because it failed. */
  done?(key: string, outcome: Outcome, error: unknown, retryInMs: number | undefined): void;
}

export interface QueueOptions {
  concurrency: number;
  /** Delay of the first retry; doubles per consecutive failure of the same key. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** [0,1); injectable for deterministic tests. */
  random?: () => number;
  now?: () => number;
  hooks?: QueueHooks;
}

export class WorkQueue {
  private readonly pending: string[] = [];
  /** Keys in `pending`, with the time they were first added (for latency). */
  private readonly queued = new Map<string, number>();
  private readonly running = new Set<string>();
  /** Keys added while running: queued again when they finish. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private readonly inFlight = new Set<Promise<void>>();
  private processor: Processor | undefined;
  private paused = true;
  private shuttingDown = false;
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly hooks: QueueHooks;

  constructor(private readonly options: QueueOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new Error(`queue concurrency must be a whole number >= 1, got ${options.concurrency}`);
    }
    this.backoff = checkBackoffPolicy(
      { initialMs: options.baseDelayMs ?? 500, maxMs: options.maxDelayMs ?? 5 * 60_000 },
      ['baseDelayMs', 'maxDelayMs'],
    );
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.hooks = options.hooks ?? {};
  }

  get depth(): number {
    return this.pending.length;
  }

  get active(): number {
    return this.running.size;
  }

  /** Adds a key now. Cancels a scheduled retry of it: fresh news beats an old failure. */
  add(key: string): void {
    if (this.shuttingDown) return;
    const scheduled = this.timers.get(key);
    if (scheduled) {
      clearTimeout(scheduled.timer);
      this.timers.delete(key);
    }
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.set(key, this.now());
    this.pending.push(key);
    this.hooks.added?.();
    this.hooks.depth?.(this.pending.length);
    this.pump();
  }

  /** Adds a key after a delay; of two scheduled adds of a key, the earlier wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const due = this.now() + delayMs;
    const scheduled = this.timers.get(key);
    if (scheduled) {
      if (scheduled.due <= due) return;
      clearTimeout(scheduled.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    // Scheduled retries alone must not keep a stopping process alive.
    timer.unref();
    this.timers.set(key, { timer, due });
  }

  /** Starts (or resumes) handing keys to the processor. */
  start(processor: Processor): void {
    this.processor = processor;
    this.paused = false;
    this.pump();
  }

  /**
   * Stops handing out keys at once (leadership lost); running keys finish. Waiting keys
   * stay queued for a later start.
   */
  pause(): void {
    this.paused = true;
  }

  /** Stops taking work, cancels retries and waits for running keys to finish. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.paused = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.drain();
  }

  /** Resolves when no key is running. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private pump(): void {
    while (!this.paused && this.processor && this.running.size < this.options.concurrency) {
      const key = this.pending.shift();
      if (key === undefined) return;
      const addedAt = this.queued.get(key) ?? this.now();
      this.queued.delete(key);
      this.hooks.depth?.(this.pending.length);
      this.hooks.latency?.((this.now() - addedAt) / 1000);
      this.running.add(key);
      const run = this.run(this.processor, key).finally(() => this.inFlight.delete(run));
      this.inFlight.add(run);
    }
  }

  private async run(processor: Processor, key: string): Promise<void> {
    let outcome: Outcome = 'success';
    let error: unknown;
    try {
      await processor(key);
    } catch (err) {
      error = err;
      outcome = err instanceof TerminalError ? 'terminal' : 'error';
    }
    this.running.delete(key);
    let retryInMs: number | undefined;
    if (outcome === 'error') {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      retryInMs = equalJitterBackoff(failures, this.backoff, this.random);
    } else {
      // Success or terminal: the next failure of this key starts from the base delay again.
      this.failures.delete(key);
    }
    try {
      this.hooks.done?.(key, outcome, error, retryInMs);
    } catch {
      // Hooks are metrics and logs: they must never wedge the queue.
    }
    if (this.dirty.delete(key)) {
      // New events arrived while it ran: they win over a scheduled retry.
      this.add(key);
    } else if (retryInMs !== undefined) {
      this.addAfter(key, retryInMs);
    }
    this.pump();
  }
}
