import { expect } from 'chai';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { startMockUpstream, type MockUpstream, type RecordedRequest } from '../support/mock-upstream.js';
import { expectBackToBaseline, logRowsFor, quietBaseline, startFaultRig, type FaultRig, type WatchedPorts } from './support/upstream-fault-rig.js';

/**
 * Fault suite, part B (docs/faults.md): a client that goes away makes the gateway let go of the
 * upstream at once. 100 trials while the gateway waits for the upstream's first byte and 100 in
 * the middle of a stream, through a real gateway process; in each the upstream must see its
 * connection close within 1 s of the client's. Clients are raw TCP sockets, so "the client left"
 * is one precise moment (socket.destroy()).
 */
const TRIALS = 100;
/** The pass line: the upstream sees the close within this long after the client's. */
const CLOSE_WITHIN_MS = 1_000;

describe('fault suite B: client disconnects', function () {
  this.timeout(300_000);
  let mock: MockUpstream;
  let rig: FaultRig;
  let ports: WatchedPorts;
  let clientKey: string;
  let seq = 0;

  before(async function () {
    this.timeout(120_000);
    mock = await startMockUpstream({ keepAliveTimeoutMs: 1_000 });
    // A long answer: 200 words, one event each.
    mock.reply = Array.from({ length: 200 }, (_, i) => `w${i} `).join('');
    rig = await startFaultRig({
      logsWorker: true,
      seed: async () => {
        const masterId = await seedMaster('faults-b-disconnects');
        clientKey = (await seedKey(masterId, `ezk_faults-b-disconnects-client-${'0'.repeat(20)}`)).key;
        // Generous timeouts: only the client's disconnect may end these requests.
        const extra = { first_byte_timeout_ms: 30_000, idle_timeout_ms: 30_000 };
        await seedGroup({ name: 'oa', type: 'openai', base_url: `${mock.url}/v1`, models: ['gpt-disconnect'], keys: ['sk-upstream-disconnect-0000000000'], extra });
        await seedGroup({ name: 'an', type: 'anthropic', base_url: mock.url, models: ['claude-disconnect'], keys: ['sk-ant-upstream-disconnect-000000000'], extra });
      },
    });
    ports = { gateway: rig.gateway.port, upstreams: [mock.port] };
  });

  after(async function () {
    this.timeout(60_000);
    await rig?.close();
    await mock?.close();
  });

  afterEach(() => {
    mock.faults.length = 0;
  });

  interface Trial {
    requestId: string;
    socket: net.Socket;
    /** Everything the client received so far. */
    received: () => string;
  }

  /** Opens a raw client connection and sends one request on it (OpenAI chat or Anthropic messages, alternating). */
  function open(i: number, stream: boolean): Trial {
    const requestId = `faults-b-disconnect-${++seq}`;
    const anthropic = i % 2 === 1;
    const body = JSON.stringify({ model: anthropic ? 'claude-disconnect' : 'gpt-disconnect', stream, max_tokens: 1_000, messages: [{ role: 'user', content: 'hi' }] });
    const head = [
      `POST ${anthropic ? '/v1/messages' : '/v1/chat/completions'} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Content-Type: application/json',
      `Authorization: Bearer ${clientKey}`,
      `X-Request-ID: ${requestId}`,
      ...(anthropic ? ['anthropic-version: 2023-06-01'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
    ];
    const socket = net.connect(rig.gateway.port, '127.0.0.1');
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
    return { requestId, socket, received: () => text };
  }

  async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(2);
    }
  }

  /** Destroys the client socket and returns ms until the upstream saw its request's connection close (Infinity: not within 5 s). */
  async function disconnect(trial: Trial, upstream: RecordedRequest): Promise<number> {
    const leftAt = Date.now();
    trial.socket.destroy();
    const closedAt = await Promise.race([upstream.closed, sleep(5_000).then(() => Infinity)]);
    return closedAt - leftAt;
  }

  function summary(delays: number[]): string {
    const sorted = [...delays].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${sorted[sorted.length - 1]} ms`;
  }

  /** The pass line is 100 of 100: the first slow trial decides, no need to sit through the rest. */
  function failFast(delays: number[], i: number): void {
    const last = delays[delays.length - 1]!;
    if (last > CLOSE_WITHIN_MS) expect.fail(`trial ${i + 1}: the upstream saw the close ${last} ms after the client left (limit ${CLOSE_WITHIN_MS} ms; earlier: ${delays.slice(0, -1).join(',')})`);
  }

  async function expectLoggedAsDisconnects(requestIds: string[]): Promise<void> {
    const rows = await logRowsFor(requestIds, 30_000);
    const reasons = [...rows.values()].map((r) => r.abort_reason);
    expect(reasons.filter((r) => r === 'client_disconnected').length, `abort reasons: ${[...new Set(reasons)].join(', ')}`).to.equal(requestIds.length);
  }

  it(`during the first-byte wait: the upstream sees the close within ${CLOSE_WITHIN_MS} ms in ${TRIALS} of ${TRIALS} trials`, async () => {
    const baseline = await quietBaseline(rig.pid, ports);
    const delays: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      mock.faults.push({ kind: 'hang' });
      const index = mock.requests.length;
      const trial = open(i, i % 4 >= 2); // streamed and non-streamed requests both wait for headers
      ids.push(trial.requestId);
      await until(() => mock.requests.length > index, `trial ${i} to reach the upstream`);
      expect(trial.received(), 'nothing reached the client before the upstream answered').to.equal('');
      delays.push(await disconnect(trial, mock.requests[index]!));
      failFast(delays, i);
    }
    console.log(`      first-byte wait: upstream close after the client's: ${summary(delays)}`);
    expect(delays.filter((ms) => ms <= CLOSE_WITHIN_MS).length, `delays (ms): ${delays.join(',')}`).to.equal(TRIALS);
    await expectLoggedAsDisconnects(ids);
    await expectBackToBaseline(rig.pid, ports, baseline);
  });

  it(`mid-stream: the upstream sees the close within ${CLOSE_WITHIN_MS} ms in ${TRIALS} of ${TRIALS} trials`, async () => {
    const baseline = await quietBaseline(rig.pid, ports);
    const delays: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      // 200 events 20 ms apart: the stream would run 4 s; the client leaves after the first delta.
      mock.faults.push({ kind: 'slow-stream', intervalMs: 20 });
      const index = mock.requests.length;
      const trial = open(i, true);
      ids.push(trial.requestId);
      await until(() => /"(content|text)":"w0 "/.test(trial.received()), `trial ${i}'s first delta at the client`);
      delays.push(await disconnect(trial, mock.requests[index]!));
      failFast(delays, i);
    }
    console.log(`      mid-stream: upstream close after the client's: ${summary(delays)}`);
    expect(delays.filter((ms) => ms <= CLOSE_WITHIN_MS).length, `delays (ms): ${delays.join(',')}`).to.equal(TRIALS);
    await expectLoggedAsDisconnects(ids);
    await expectBackToBaseline(rig.pid, ports, baseline);
  });
});
