import type { Logger } from '../../lib/logger.js';
import type { RequestLogRecord } from '../types.js';

/**
 * The gateway's request-log buffer (DESIGN §6 "Proxy request", §9 invariant 4). `push` is O(1)
 * and never waits: the request is already answered. Records leave in batches — one `logs` job per
 * batch — when `batchSize` records are waiting or `flushMs` after the oldest arrived, with at
 * most one enqueue in flight. A batch whose enqueue failed is kept as it is and retried (same
 * records, same jobId) with backoff; meanwhile the buffer stays bounded at `maxRecords` by
 * dropping the oldest records, counted in `stats().dropped`.
 */

/** Timers, injectable so tests drive time by hand. */
export interface BufferClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: BufferClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    // The buffer never keeps a process alive; shutdown calls close() to flush.
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What a batch enqueue may report: records refused as malformed (dropped, never retried). */
export interface EnqueueOutcome {
  rejected?: number;
}

export interface LogBufferOptions {
  /** Sends one batch (one `logs` job). Rejects on failure: the batch is kept and retried. */
  enqueue: (records: RequestLogRecord[]) => Promise<EnqueueOutcome | void>;
  /** Bound on buffered records, EZ_LOG_QUEUE (10,000); beyond it the oldest are dropped. */
  maxRecords: number;
  /** Records per batch, EZ_LOG_BATCH_SIZE (500); a full batch is sent at once. */
  batchSize: number;
  /** Longest a record waits for a partial batch (ms), EZ_LOG_FLUSH_MS (1,000). */
  flushMs: number;
  logger: Pick<Logger, 'warn' | 'info' | 'error'>;
  clock?: BufferClock;
  /** An enqueue that has not settled after this long counts as failed (ms, default 5,000). */
  enqueueTimeoutMs?: number;
  /** Longest wait between retries of a failing enqueue (ms, default 30,000). */
  maxRetryDelayMs?: number;
}

export interface LogBufferStats {
  /** Records waiting (including a batch being sent or waiting for a retry). */
  depth: number;
  /** Records dropped: the buffer was full, or pushed after close. */
  dropped: number;
  /** Records handed to the queue. */
  flushed: number;
  /** Failed enqueue attempts. */
  failures: number;
  /** Records the queue refused as malformed. */
  rejected: number;
}

export interface CloseResult {
  flushed: number;
  /** Records still unsent when the timeout ran out (lost). */
  unsent: number;
}

export interface LogBuffer {
  push(record: RequestLogRecord): void;
  /** Sends everything waiting now (one batch at a time); resolves when done or on a failure. */
  flush(): Promise<void>;
  stats(): LogBufferStats;
  /** Stops accepting records and flushes what it can within `timeoutMs` (default 5,000). */
  close(timeoutMs?: number): Promise<CloseResult>;
}

/** A fixed-capacity FIFO over a ring: O(1) push, shift and drop-oldest. */
class Ring<T> {
  private readonly items: Array<T | undefined>;
  private head = 0;
  size = 0;
  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }
  push(item: T): void {
    this.items[(this.head + this.size) % this.capacity] = item;
    this.size += 1;
  }
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size -= 1;
    return item;
  }
  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.size > 0) out.push(this.shift() as T);
    return out;
  }
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`log batch enqueue timed out after ${ms} ms`);
  }
}

export function createLogBuffer(options: LogBufferOptions): LogBuffer {
  const { enqueue, logger } = options;
  const clock = options.clock ?? systemClock;
  const maxRecords = Math.max(1, Math.floor(options.maxRecords));
  const batchSize = Math.max(1, Math.min(Math.floor(options.batchSize), maxRecords));
  const flushMs = Math.max(0, options.flushMs);
  const enqueueTimeoutMs = options.enqueueTimeoutMs ?? 5_000;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;

  const ring = new Ring<RequestLogRecord>(maxRecords);
  /** The batch being sent, or the one that failed and waits for its retry (sent unchanged). */
  let pending: RequestLogRecord[] | undefined;
  let inFlight: Promise<void> | undefined;
  let timer: unknown;
  let timerDue = Infinity;
  let timerAll = false;
  let consecutiveFailures = 0;
  let closed = false;
  const counters = { dropped: 0, flushed: 0, failures: 0, rejected: 0 };

  const depth = () => ring.size + (pending?.length ?? 0);

  /**
   * Schedules a drain `delayMs` from now unless one is due sooner. `all`: send a partial batch
   * too (its records waited flushMs, or a retry is due); otherwise only full batches go.
   */
  function arm(delayMs: number, all: boolean): void {
    const due = clock.now() + delayMs;
    if (timer !== undefined && timerDue <= due) {
      timerAll ||= all && timerDue === due;
      return;
    }
    if (timer !== undefined) clock.clearTimeout(timer);
    timerDue = due;
    timerAll = all;
    timer = clock.setTimeout(() => {
      const sendAll = timerAll;
      timer = undefined;
      timerDue = Infinity;
      void drain(sendAll);
    }, delayMs);
  }

  function disarm(): void {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    timerDue = Infinity;
  }

  function withTimeout(promise: Promise<EnqueueOutcome | void>): Promise<EnqueueOutcome | void> {
    let handle: unknown;
    return Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        handle = clock.setTimeout(() => reject(new TimeoutError(enqueueTimeoutMs)), enqueueTimeoutMs);
      }),
    ]).finally(() => clock.clearTimeout(handle));
  }

  /** Sends batches one after the other: all waiting records (`all`), or only full batches. */
  function drain(all: boolean): Promise<void> {
    if (inFlight) return inFlight;
    let run: Promise<void> | undefined = undefined;
    run = (async () => {
      // Yield first: a drain with nothing to send would otherwise finish (and clear inFlight in
      // its finally) before `inFlight` is assigned, leaving a settled promise there for good.
      await Promise.resolve();
      try {
        for (;;) {
          if (!pending) {
            if (ring.size === 0 || (!all && ring.size < batchSize)) break;
            pending = ring.take(batchSize);
          }
          const batch = pending;
          try {
            const outcome = await withTimeout(Promise.resolve().then(() => enqueue(batch)));
            const rejected = outcome?.rejected ?? 0;
            counters.flushed += batch.length - rejected;
            counters.rejected += rejected;
            if (pending === batch) pending = undefined;
            if (consecutiveFailures > 0) logger.info({ failures: consecutiveFailures }, 'request log enqueue recovered');
            consecutiveFailures = 0;
          } catch (err) {
            counters.failures += 1;
            consecutiveFailures += 1;
            // Warn on the first failure of a streak, then now and then: Redis may be down for long.
            if (consecutiveFailures === 1 || consecutiveFailures % 20 === 0) {
              logger.warn({ err: { message: (err as Error).message }, failures: consecutiveFailures, depth: depth() }, 'could not enqueue request logs; keeping them for a retry');
            }
            if (!closed) arm(Math.min(maxRetryDelayMs, Math.max(flushMs, 100) * 2 ** Math.min(consecutiveFailures - 1, 16)), true);
            return;
          }
        }
      } finally {
        if (inFlight === run) inFlight = undefined;
      }
      // What is left is a partial batch: it goes when the oldest record has waited flushMs.
      if (!closed && depth() > 0) arm(ring.size >= batchSize ? 0 : flushMs, ring.size < batchSize);
    })();
    inFlight = run;
    return run;
  }

  /** Makes room for one record by dropping the oldest one (never from a batch being sent). */
  function dropOldest(): boolean {
    if (pending && pending.length > 0 && !inFlight) {
      pending.shift();
      if (pending.length === 0) pending = undefined;
      return true;
    }
    if (ring.size > 0) {
      ring.shift();
      return true;
    }
    return false;
  }

  return {
    push(record) {
      if (closed) {
        counters.dropped += 1;
        return;
      }
      while (depth() >= maxRecords || ring.size >= ring.capacity) {
        if (!dropOldest()) {
          counters.dropped += 1;
          return;
        }
        counters.dropped += 1;
      }
      ring.push(record);
      if (consecutiveFailures > 0) return; // a retry is already scheduled
      // Never enqueue on the request's own stack: a full batch goes on the next timer tick.
      if (ring.size >= batchSize) arm(0, false);
      else arm(flushMs, true);
    },
    flush: () => drain(true),
    stats: () => ({ depth: depth(), ...counters }),
    async close(timeoutMs = 5_000) {
      closed = true;
      disarm();
      const deadline = clock.now() + timeoutMs;
      const before = counters.flushed;
      let wait: unknown;
      const expired = new Promise<void>((resolve) => {
        wait = clock.setTimeout(resolve, timeoutMs);
      });
      let timedOut = false;
      void expired.then(() => (timedOut = true));
      while (depth() > 0 && !timedOut && clock.now() < deadline) {
        const failuresBefore = counters.failures;
        await Promise.race([drain(true), expired]);
        if (counters.failures > failuresBefore && !timedOut) {
          // Brief pause before trying again; give up at the deadline.
          let pause: unknown;
          await Promise.race([
            new Promise<void>((resolve) => {
              pause = clock.setTimeout(resolve, Math.min(200, Math.max(0, deadline - clock.now())));
            }),
            expired,
          ]);
          clock.clearTimeout(pause);
        }
      }
      clock.clearTimeout(wait);
      const unsent = depth();
      if (unsent > 0) logger.error({ unsent }, 'request logs lost at shutdown: the queue did not take them in time');
      return { flushed: counters.flushed - before, unsent };
    },
  };
}
