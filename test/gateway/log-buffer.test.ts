import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createQueues } from '../../jobs/queues.js';
import { queueLogEnqueuer } from '../../src/gateway/logs/log-queue.js';
import { testEnv } from '../support/hooks.js';
import { createLogBuffer, type BufferClock, type LogBufferOptions } from '../../src/gateway/logs/log-buffer.js';
import type { RequestLogRecord } from '../../src/gateway/types.js';
import { createLogger } from '../../src/lib/logger.js';

/** Timers that run only when the test advances time. */
class FakeClock implements BufferClock {
  private current = 0;
  private nextId = 1;
  private timers = new Map<number, { due: number; fn: () => void }>();
  now(): number {
    return this.current;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { due: this.current + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Advances time, running due timers in order and letting the promises they start settle. */
  async tick(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await settle();
      const next = [...this.timers.entries()].filter(([, t]) => t.due <= target).sort((a, b) => a[1].due - b[1].due)[0];
      if (!next) break;
      this.timers.delete(next[0]);
      this.current = next[1].due;
      next[1].fn();
    }
    this.current = target;
    await settle();
  }
  pending(): number {
    return this.timers.size;
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

let seq = 0;
const record = (): RequestLogRecord => {
  seq += 1;
  return {
    request_id: `r${seq}`,
    created_at: new Date(0).toISOString(),
    master_id: 1,
    key_id: 1,
    namespace: 'default',
    model: 'm',
    upstream_model: 'm',
    provider_group_id: 1,
    api_key_id: 1,
    format_in: 'openai',
    format_out: 'openai',
    stream: false,
    status_code: 200,
    error_code: null,
    error_message: null,
    latency_ms: 1,
    ttft_ms: null,
    prompt_tokens: 0,
    completion_tokens: 0,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    cost_list: 0,
    cost_actual: 0,
    usage_source: null,
    client_ip: null,
    attempts: 1,
    request_body: null,
    abort_reason: null,
  };
};

/** A fake `logs` queue: records the batches, fails while `failing` is set. */
function fakeQueue() {
  const batches: string[][] = [];
  const state = { failing: false, calls: 0, inFlight: 0, maxInFlight: 0, hold: undefined as Promise<void> | undefined };
  const enqueue = async (records: RequestLogRecord[]) => {
    state.calls += 1;
    state.inFlight += 1;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    try {
      if (state.hold) await state.hold;
      if (state.failing) throw new Error('redis is away');
      batches.push(records.map((r) => r.request_id));
    } finally {
      state.inFlight -= 1;
    }
  };
  return { batches, state, enqueue };
}

const logger = createLogger({ level: 'silent' });

describe('createLogBuffer', () => {
  let clock: FakeClock;
  let queue: ReturnType<typeof fakeQueue>;
  const make = (overrides: Partial<LogBufferOptions> = {}) =>
    createLogBuffer({ enqueue: queue.enqueue, maxRecords: 10, batchSize: 3, flushMs: 1_000, logger, clock, ...overrides });

  beforeEach(() => {
    clock = new FakeClock();
    queue = fakeQueue();
  });

  it('push never enqueues on the caller\'s stack, then a full batch goes at once', async () => {
    const sut = make();
    const pushed = [record(), record(), record()];
    for (const r of pushed) sut.push(r);
    expect(queue.state.calls, 'nothing sent synchronously').to.equal(0);
    await clock.tick(0);
    expect(queue.batches).to.deep.equal([pushed.map((r) => r.request_id)]);
    expect(sut.stats()).to.deep.equal({ depth: 0, dropped: 0, flushed: 3, failures: 0, rejected: 0 });
  });

  it('keeps sending after a flush found nothing to send (a drained drain must not stick)', async () => {
    const sut = make();
    sut.push(record());
    await sut.flush();
    await sut.flush(); // empty: this used to leave a settled promise as the in-flight drain forever
    const later = [record(), record(), record()];
    for (const r of later) sut.push(r);
    await clock.tick(0);
    expect(queue.batches.at(-1)).to.deep.equal(later.map((r) => r.request_id));
    expect(sut.stats()).to.include({ depth: 0, flushed: 4 });
  });

  it('a partial batch goes flushMs after its first record', async () => {
    const sut = make();
    sut.push(record());
    await clock.tick(500);
    sut.push(record());
    await clock.tick(499);
    expect(queue.batches).to.have.length(0);
    expect(sut.stats().depth).to.equal(2);
    await clock.tick(1);
    expect(queue.batches).to.have.length(1);
    expect(queue.batches[0]).to.have.length(2);
    expect(sut.stats()).to.include({ depth: 0, flushed: 2 });
    expect(clock.pending(), 'no timer left behind when empty').to.equal(0);
  });

  it('splits a burst into batches of batchSize, one enqueue in flight at a time', async () => {
    let release!: () => void;
    queue.state.hold = new Promise<void>((resolve) => (release = resolve));
    const sut = make({ maxRecords: 100 });
    for (let i = 0; i < 8; i += 1) sut.push(record());
    await clock.tick(0);
    expect(queue.state.calls).to.equal(1);
    for (let i = 0; i < 3; i += 1) sut.push(record());
    await clock.tick(0);
    expect(queue.state.calls, 'still one in flight').to.equal(1);
    release();
    await clock.tick(0);
    expect(queue.batches.map((b) => b.length)).to.deep.equal([3, 3, 3]);
    expect(sut.stats().depth).to.equal(2);
    await clock.tick(1_000);
    expect(queue.batches.map((b) => b.length)).to.deep.equal([3, 3, 3, 2]);
    expect(queue.state.maxInFlight).to.equal(1);
  });

  it('stays bounded while the queue fails, dropping the oldest and counting them, and retries the same batch', async () => {
    queue.state.failing = true;
    const sut = make({ maxRecords: 10, batchSize: 3 });
    const pushed = Array.from({ length: 25 }, () => record());
    for (const r of pushed.slice(0, 3)) sut.push(r);
    await clock.tick(0);
    expect(sut.stats()).to.include({ failures: 1, depth: 3 });
    for (const r of pushed.slice(3)) sut.push(r);
    expect(sut.stats().depth).to.equal(10);
    expect(sut.stats().dropped).to.equal(15);
    // Retries back off instead of hammering a dead Redis.
    await clock.tick(60_000);
    const failures = sut.stats().failures;
    expect(failures).to.be.within(2, 8);
    expect(sut.stats().depth).to.equal(10);

    queue.state.failing = false;
    await clock.tick(60_000);
    // Only the newest 10 survive; nothing is sent twice.
    const sent = queue.batches.flat();
    expect(sent).to.deep.equal(pushed.slice(15).map((r) => r.request_id));
    expect(sut.stats()).to.deep.equal({ depth: 0, dropped: 15, flushed: 10, failures, rejected: 0 });
  });

  it('retries a failed batch unchanged (so its deterministic jobId dedupes)', async () => {
    const seen: string[][] = [];
    let fail = true;
    const sut = make({
      enqueue: async (records) => {
        seen.push(records.map((r) => r.request_id));
        if (fail) throw new Error('timeout');
      },
    });
    sut.push(record());
    sut.push(record());
    await clock.tick(1_000);
    sut.push(record());
    fail = false;
    await clock.tick(10_000);
    expect(seen[0]).to.deep.equal(seen[1]);
    expect(seen.flat()).to.have.length(2 + 2 + 1);
    expect(sut.stats()).to.include({ depth: 0, flushed: 3, failures: 1 });
  });

  it('counts an enqueue that never settles as a failure', async () => {
    let calls = 0;
    const sut = make({
      enqueueTimeoutMs: 2_000,
      enqueue: () => {
        calls += 1;
        return calls === 1 ? new Promise(() => {}) : Promise.resolve();
      },
    });
    for (let i = 0; i < 3; i += 1) sut.push(record());
    await clock.tick(2_000);
    expect(sut.stats()).to.include({ failures: 1, depth: 3 });
    await clock.tick(10_000);
    expect(sut.stats()).to.include({ flushed: 3, depth: 0 });
  });

  it('counts records the queue refused as malformed, and does not retry them', async () => {
    const sut = make({ enqueue: async () => ({ rejected: 1 }) });
    for (let i = 0; i < 3; i += 1) sut.push(record());
    await clock.tick(0);
    expect(sut.stats()).to.deep.equal({ depth: 0, dropped: 0, flushed: 2, failures: 0, rejected: 1 });
  });

  it('close() flushes everything waiting, and later pushes are dropped', async () => {
    const sut = make({ maxRecords: 200, batchSize: 50 });
    for (let i = 0; i < 120; i += 1) sut.push(record());
    const result = await sut.close(5_000);
    expect(result).to.deep.equal({ flushed: 120, unsent: 0 });
    expect(queue.batches.map((b) => b.length)).to.deep.equal([50, 50, 20]);
    sut.push(record());
    expect(sut.stats()).to.include({ depth: 0, dropped: 1 });
    expect(clock.pending()).to.equal(0);
  });

  it('close() gives up at its timeout when the queue stays down, reporting what was lost', async () => {
    queue.state.failing = true;
    const sut = make();
    sut.push(record());
    sut.push(record());
    const closing = sut.close(1_000);
    await clock.tick(1_000);
    expect(await closing).to.deep.equal({ flushed: 0, unsent: 2 });
    expect(sut.stats().failures).to.be.at.least(2);
  });

  it('close() recovers when the queue comes back before the deadline', async () => {
    queue.state.failing = true;
    const sut = make();
    sut.push(record());
    const closing = sut.close(5_000);
    await clock.tick(200);
    queue.state.failing = false;
    await clock.tick(1_000);
    expect(await closing).to.deep.equal({ flushed: 1, unsent: 0 });
  });
});

describe(queueLogEnqueuer.name, () => {
  it('sends one `logs` job per batch, dedupes a re-sent batch, and drops only the malformed records', async () => {
    const queues = createQueues({ url: testEnv().redisUrl, defaulted: false }, `ez-test-${randomUUID().slice(0, 8)}`, ['logs']);
    try {
      const sut = queueLogEnqueuer(queues, logger);
      const good = [record(), record()];
      expect(await sut(good)).to.deep.equal({ rejected: 0 });
      expect(await sut(good.map((r) => ({ ...r }))), 're-sent after a timeout').to.deep.equal({ rejected: 0 });
      expect(await queues.get('logs').getJobCountByTypes('waiting', 'paused')).to.equal(1);

      const bad = { ...record(), status_code: -3 };
      expect(await sut([record(), bad, record()])).to.deep.equal({ rejected: 1 });
      const jobs = await queues.get('logs').getJobs(['waiting']);
      expect(jobs.map((j) => (j.data as { records: unknown[] }).records.length).sort()).to.deep.equal([2, 2]);
    } finally {
      await queues.get('logs').obliterate({ force: true });
      await queues.close();
    }
  });
});
