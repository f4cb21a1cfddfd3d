import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { freePort } from '../../src/lib/local-services.js';
import { seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { startMockUpstream, type Fault, type MockUpstream } from '../support/mock-upstream.js';
import { expectBackToBaseline, quietBaseline, rssBytes, startFaultRig, type FaultRig, type WatchedPorts } from './support/upstream-fault-rig.js';

/**
 * Fault suite, part B (docs/faults.md): resources under faults. A real gateway process serves
 * 10,000 requests of a faulted mix (5xx, 429, resets, refused connections, hangs, headers without
 * a body, cut streams, clients leaving mid-stream). RSS is sampled every 250 ms while they run: a
 * leak grows it run-long, so the peak of the last third may exceed the peak of the first third by
 * less than 10 % (single readings swing ±25 % with GC timing on a busy machine, peaks do not).
 * Connections and file descriptors return to the warm-up baseline.
 */
const WARMUP = 3_000;
const REQUESTS = 10_000;
const CONCURRENCY = 16;
/** Short upstream timeouts for every group: a hang costs 300 ms, not a minute. */
const TIMEOUTS = { connect_timeout_ms: 500, first_byte_timeout_ms: 300, idle_timeout_ms: 300 };
/** Quiet time before each RSS reading: in-flight work ends, timers fire, V8 gets idle time to collect. */
const SETTLE_MS = 5_000;

type Kind = 'ok' | 'ok-stream' | '5xx' | '429' | 'reset' | 'cut' | 'refused' | 'hang' | 'headers-hang' | 'client-abort';
const MIX: readonly Kind[] = ['ok', 'ok-stream', '5xx', '429', 'reset', 'cut', 'refused', 'hang', 'headers-hang', 'client-abort'];

describe('fault suite B: resources under faults', function () {
  this.timeout(600_000);
  let mock: MockUpstream;
  let rig: FaultRig;
  let ports: WatchedPorts;
  let clientKey: string;

  before(async function () {
    this.timeout(120_000);
    mock = await startMockUpstream({ keepAliveTimeoutMs: 1_000 });
    const deadPort = await freePort();
    rig = await startFaultRig({
      logsWorker: false, // the records pile up as `logs` jobs in Redis; the gateway's side is what is measured
      seed: async () => {
        const masterId = await seedMaster('faults-b-resources');
        clientKey = (await seedKey(masterId, `ezk_faults-b-resources-client-${'0'.repeat(20)}`)).key;
        await seedGroup({ name: 'mix', type: 'openai', base_url: `${mock.url}/v1`, models: ['m-mix'], keys: ['sk-upstream-mix-a-0000000000', 'sk-upstream-mix-b-0000000000'], extra: TIMEOUTS });
        await seedGroup({ name: 'dead', type: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, models: ['m-refused'], keys: ['sk-upstream-dead-0000000000'], extra: TIMEOUTS });
      },
    });
    ports = { gateway: rig.gateway.port, upstreams: [mock.port, deadPort] };
  });

  after(async function () {
    this.timeout(60_000);
    await rig?.close();
    await mock?.close();
  });

  const FAULTS: Partial<Record<Kind, Fault>> = {
    '5xx': { kind: 'status', status: 500 },
    '429': { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
    reset: { kind: 'destroy' },
    cut: { kind: 'cut-stream', after: 2 },
    hang: { kind: 'hang' },
    'headers-hang': { kind: 'headers-then-hang' },
    'client-abort': { kind: 'slow-stream', intervalMs: 50 },
  };

  /**
   * Sends `count` requests of the mix over CONCURRENCY connections. Concurrent requests draw the
   * queued faults in arrival order, so which request meets which fault varies; every request
   * still ends in bounded time. Returns the client-visible outcomes by status.
   */
  async function runMix(count: number, offset: number): Promise<Record<string, number>> {
    const outcomes: Record<string, number> = {};
    const pool = new Pool(rig.gateway.url, { connections: CONCURRENCY });
    let next = 0;
    try {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < count) {
            const kind = MIX[(offset + next++) % MIX.length]!;
            const fault = FAULTS[kind];
            if (fault) mock.faults.push(fault);
            const stream = kind === 'ok-stream' || kind === 'cut' || kind === 'headers-hang' || kind === 'client-abort';
            const abort = new AbortController();
            let outcome: string;
            try {
              const res = await pool.request({
                method: 'POST',
                path: '/v1/chat/completions',
                headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}` },
                body: JSON.stringify({ model: kind === 'refused' ? 'm-refused' : 'm-mix', stream, messages: [{ role: 'user', content: 'hi' }] }),
                signal: abort.signal,
                headersTimeout: 30_000,
                bodyTimeout: 30_000,
              });
              outcome = String(res.statusCode);
              if (kind === 'client-abort' && res.statusCode === 200) {
                // Leave after the first bytes of the stream.
                for await (const chunk of res.body) {
                  if ((chunk as Buffer).length > 0) break;
                }
                abort.abort();
                outcome = 'client-aborted';
              }
              await res.body.text().catch(() => '');
            } catch (err) {
              outcome = abort.signal.aborted ? 'client-aborted' : `error ${(err as Error).message}`;
            }
            outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          }
        }),
      );
    } finally {
      await pool.close();
    }
    mock.faults.length = 0;
    return outcomes;
  }

  it(`RSS grows by less than 10 % over ${REQUESTS} faulted requests; connections and fds return to baseline`, async () => {
    const warmup = await runMix(WARMUP, 0);
    await sleep(SETTLE_MS);
    const baseline = await quietBaseline(rig.pid, ports);
    const rssBefore = await rssBytes(rig.pid);

    const samples: number[] = [];
    const sampler = setInterval(() => void rssBytes(rig.pid).then((rss) => samples.push(rss), () => undefined), 250);
    const started = Date.now();
    let outcomes: Record<string, number>;
    try {
      outcomes = await runMix(REQUESTS, WARMUP);
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - started) / 1_000;
    await sleep(SETTLE_MS);
    const rssAfter = await rssBytes(rig.pid);
    const third = Math.floor(samples.length / 3);
    const peakFirst = Math.max(...samples.slice(0, third));
    const peakLast = Math.max(...samples.slice(samples.length - third));
    const growth = peakLast / peakFirst - 1;
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    console.log(
      `      ${REQUESTS} faulted requests in ${seconds.toFixed(1)} s: ${JSON.stringify(outcomes)}; ` +
        `RSS before ${mib(rssBefore)} MiB, peak first third ${mib(peakFirst)} → last third ${mib(peakLast)} MiB (${(growth * 100).toFixed(1)} %, ${samples.length} samples), after settling ${mib(rssAfter)} MiB; warm-up ${JSON.stringify(warmup)}`,
    );
    expect(third, 'RSS samples per third').to.be.at.least(10);

    expect(rig.gateway.proc.child.exitCode, `the gateway died:\n${rig.gateway.proc.output().slice(-2000)}`).to.equal(null);
    const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
    expect(total).to.equal(REQUESTS);
    // Every request got an HTTP answer (or was left by the client on purpose): no resets, no hangs.
    const transportErrors = Object.entries(outcomes).filter(([k]) => k.startsWith('error'));
    expect(transportErrors, 'client-side transport errors').to.deep.equal([]);
    // Answers are what the faults call for, never an internal error.
    for (const status of Object.keys(outcomes)) expect(['200', '429', '502', '503', '504', 'client-aborted'], `unexpected outcome ${status}`).to.include(status);
    expect(outcomes['200'] ?? 0, 'the mix still serves the healthy share').to.be.at.least(REQUESTS / 10);

    expect(growth, `RSS peak growth ${(growth * 100).toFixed(1)} % from the first to the last third (limit 10 %)`).to.be.below(0.1);
    await expectBackToBaseline(rig.pid, ports, baseline);
    const health = await fetch(`${rig.gateway.url}/health`);
    expect(health.status).to.equal(200);
  });
});
