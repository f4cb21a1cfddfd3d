import { expect } from 'chai';
import { Client } from 'undici';
import { freePort } from '../../src/lib/local-services.js';
import { seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { startMockUpstream, type Fault, type MockUpstream } from '../support/mock-upstream.js';
import { expectBackToBaseline, logRowsFor, quietBaseline, startFaultRig, type FaultRig, type LogRow, type WatchedPorts } from './support/upstream-fault-rig.js';

/**
 * Fault suite, part B (docs/faults.md): upstream faults against a real gateway process. Every
 * case ends within its configured timeout plus a margin, with the client-visible result the design
 * names (status and error in the client's own format, failover before the first byte, a partial
 * stream closed with an error event), leaves no socket or fd behind (gateway → upstream and
 * client → gateway connections, /proc/<pid>/fd, back to the quiet baseline), and leaves a
 * request_logs row naming the reason (error_code / abort_reason).
 */

/** Per provider group upstream timeouts (ms), short to keep the suite fast. */
const CONNECT_MS = 1_000;
const FIRST_BYTE_MS = 1_000;
const IDLE_MS = 1_000;
/** What a loaded 2-core machine may add on top of a timeout. */
const MARGIN_MS = 1_500;
const TIMEOUTS = { connect_timeout_ms: CONNECT_MS, first_byte_timeout_ms: FIRST_BYTE_MS, idle_timeout_ms: IDLE_MS };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** ms from sending to the end of the response body. */
  ms: number;
  requestId: string;
}

describe('fault suite B: upstream faults', function () {
  this.timeout(180_000);
  let mock: MockUpstream;
  let deadPort: number;
  let rig: FaultRig;
  let ports: WatchedPorts;
  let clientKey: string;
  let seq = 0;

  before(async function () {
    this.timeout(120_000);
    // A 1 s keep-alive: pooled idle upstream sockets close within ~1 s, so a socket still open
    // after a few seconds is one the gateway leaked.
    mock = await startMockUpstream({ keepAliveTimeoutMs: 1_000 });
    deadPort = await freePort(); // nothing listens here: connections are refused
    rig = await startFaultRig({
      logsWorker: true,
      seed: async () => {
        const masterId = await seedMaster('faults-b-upstream');
        clientKey = (await seedKey(masterId, `ezk_faults-b-upstream-client-${'0'.repeat(20)}`)).key;
        const openai = (name: string, keys: number, baseUrl = `${mock.url}/v1`) =>
          seedGroup({ name, type: 'openai', base_url: baseUrl, models: [name], keys: Array.from({ length: keys }, (_, i) => `sk-upstream-${name}-${i}-0000000000`), extra: TIMEOUTS });
        // One model per case, so no case inherits another's breaker or cool-down state.
        await openai('m-5xx-failover', 2);
        await openai('m-5xx', 1);
        await openai('m-429-failover', 2);
        await openai('m-refused', 1, `http://127.0.0.1:${deadPort}/v1`);
        await openai('m-refused-failover', 1, `http://127.0.0.1:${deadPort}/v1`);
        await seedGroup({ name: 'm-refused-failover-live', type: 'openai', base_url: `${mock.url}/v1`, models: ['m-refused-failover'], keys: ['sk-upstream-live-0000000000'], extra: TIMEOUTS });
        await openai('m-hang', 1);
        await openai('m-hang-failover', 2);
        await openai('m-headers-hang', 1);
        await openai('m-slow', 1);
        await openai('m-cut', 1);
        await seedGroup({ name: 'claude-429', type: 'anthropic', base_url: mock.url, models: ['claude-429', 'claude-hang'], keys: ['sk-ant-upstream-faults-0000000000'], extra: TIMEOUTS });
        await seedGroup({ name: 'gemini-5xx', type: 'gemini', base_url: mock.url, models: ['gemini-5xx'], keys: ['AIza-upstream-faults-gemini-000000000'], extra: TIMEOUTS });
      },
    });
    ports = { gateway: rig.gateway.port, upstreams: [mock.port, deadPort] };
  });

  after(async function () {
    this.timeout(60_000);
    await rig?.close();
    await mock?.close();
  });

  afterEach(function () {
    mock.faults.length = 0;
  });

  /** Runs one case on its own client connection and proves it left no connection or fd behind. */
  async function leakFree<T>(run: (client: Client) => Promise<T>): Promise<T> {
    const baseline = await quietBaseline(rig.pid, ports);
    const client = new Client(rig.gateway.url, { pipelining: 0 });
    let result: T;
    try {
      result = await run(client);
    } finally {
      await client.close();
    }
    await expectBackToBaseline(rig.pid, ports, baseline);
    expect(rig.gateway.proc.child.exitCode, 'the gateway is still running').to.equal(null);
    return result;
  }

  async function send(client: Client, path: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
    const requestId = `faults-b-${++seq}`;
    const started = performance.now();
    const res = await client.request({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}`, 'x-request-id': requestId, ...headers },
      body: JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, ms: performance.now() - started, requestId };
  }

  const chat = (client: Client, model: string, stream = false) => send(client, '/v1/chat/completions', { model, stream, messages: [{ role: 'user', content: 'hi' }] });
  const messages = (client: Client, model: string, stream = false) =>
    send(client, '/v1/messages', { model, stream, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' });
  const json = (answer: Answer) => JSON.parse(answer.text) as Record<string, unknown>;
  const row = async (answer: Answer): Promise<LogRow> => (await logRowsFor([answer.requestId])).get(answer.requestId)!;
  const queue = (...faults: Fault[]) => mock.faults.push(...faults);

  describe('5xx', () => {
    it('fails over to the next upstream key before the first byte', async () => {
      queue({ kind: 'status', status: 500 });
      const answer = await leakFree((client) => chat(client, 'm-5xx-failover'));
      expect(answer.status, answer.text).to.equal(200);
      expect(answer.ms).to.be.below(MARGIN_MS);
      expect(await row(answer)).to.include({ status_code: 200, attempts: 2, error_code: null });
    });

    it('answers 502 upstream_error in the OpenAI format when every key fails, and logs the upstream message', async () => {
      queue({ kind: 'status', status: 503 });
      const answer = await leakFree((client) => chat(client, 'm-5xx'));
      expect(answer.status).to.equal(502);
      expect(json(answer)).to.have.nested.property('error.code', 'upstream_error');
      expect(json(answer)).to.have.nested.property('error.type', 'server_error');
      expect(answer.ms).to.be.below(MARGIN_MS);
      const logged = await row(answer);
      expect(logged).to.include({ status_code: 502, error_code: 'upstream_error', attempts: 1 });
      expect(logged.error_message).to.include('mock failure 503');
    });

    it('answers 502 in the Gemini format to a Gemini client', async () => {
      queue({ kind: 'status', status: 500 });
      const answer = await leakFree((client) => send(client, '/v1beta/models/gemini-5xx:generateContent', { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }));
      expect(answer.status).to.equal(502);
      expect(json(answer)).to.have.nested.property('error.status', 'UNAVAILABLE');
      expect(json(answer)).to.have.nested.property('error.code', 502);
      expect(await row(answer)).to.include({ status_code: 502, error_code: 'upstream_error' });
    });
  });

  describe('refused connections', () => {
    it('answer 502 at once (well inside the connect timeout) and the log row names the refusal', async () => {
      const answer = await leakFree((client) => chat(client, 'm-refused'));
      expect(answer.status).to.equal(502);
      expect(json(answer)).to.have.nested.property('error.code', 'upstream_error');
      expect(answer.ms).to.be.below(CONNECT_MS);
      const logged = await row(answer);
      expect(logged).to.include({ status_code: 502, error_code: 'upstream_error', attempts: 1 });
      expect(logged.error_message).to.include('connect_error');
    });

    it('fail over to a live group: 20 of 20 requests succeed, some after a refused first attempt', async () => {
      const answers = await leakFree(async (client) => {
        const out: Answer[] = [];
        for (let i = 0; i < 20; i++) out.push(await chat(client, 'm-refused-failover'));
        return out;
      });
      expect(answers.map((a) => a.status)).to.deep.equal(answers.map(() => 200));
      const rows = await logRowsFor(answers.map((a) => a.requestId));
      const attempts = [...rows.values()].map((r) => r.attempts);
      // Either group is picked first at random; P(the dead one never first in 20) = 2^-20.
      expect(attempts.filter((n) => n === 2).length, `attempts per request: ${attempts.join(',')}`).to.be.at.least(1);
      expect(attempts.every((n) => n === 1 || n === 2)).to.equal(true);
    });
  });

  describe('429 with Retry-After', () => {
    it('fails over to the next key', async () => {
      queue({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
      const answer = await leakFree((client) => chat(client, 'm-429-failover'));
      expect(answer.status, answer.text).to.equal(200);
      expect(await row(answer)).to.include({ status_code: 200, attempts: 2 });
    });

    it('reaches an Anthropic client as 429 rate_limit_error with the upstream Retry-After when no key is left', async () => {
      queue({ kind: 'status', status: 429, headers: { 'retry-after': '7' }, body: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } } });
      const answer = await leakFree((client) => messages(client, 'claude-429'));
      expect(answer.status).to.equal(429);
      expect(answer.headers['retry-after']).to.equal('7');
      expect(json(answer)).to.deep.include({ type: 'error' });
      expect(json(answer)).to.have.nested.property('error.type', 'rate_limit_error');
      expect(answer.ms).to.be.below(MARGIN_MS);
      expect(await row(answer)).to.include({ status_code: 429, error_code: 'rate_limited' });
    });
  });

  describe('hangs', () => {
    it('no response headers: 504 upstream_timeout after the first-byte timeout', async () => {
      queue({ kind: 'hang' });
      const answer = await leakFree((client) => chat(client, 'm-hang'));
      expect(answer.status).to.equal(504);
      expect(json(answer)).to.have.nested.property('error.code', 'upstream_timeout');
      expect(answer.ms).to.be.within(FIRST_BYTE_MS - 50, FIRST_BYTE_MS + MARGIN_MS);
      expect(await row(answer)).to.include({ status_code: 504, error_code: 'upstream_timeout' });
    });

    it('no response headers on a stream: an Anthropic client gets 504 in its format (nothing was sent yet)', async () => {
      queue({ kind: 'hang' });
      const answer = await leakFree((client) => messages(client, 'claude-hang', true));
      expect(answer.status).to.equal(504);
      expect(json(answer)).to.have.nested.property('error.type', 'api_error');
      expect(answer.ms).to.be.within(FIRST_BYTE_MS - 50, FIRST_BYTE_MS + MARGIN_MS);
      expect(await row(answer)).to.include({ status_code: 504, error_code: 'upstream_timeout', stream: true });
    });

    it('a hung key is failed over after its first-byte timeout', async () => {
      queue({ kind: 'hang' });
      const answer = await leakFree((client) => chat(client, 'm-hang-failover'));
      expect(answer.status, answer.text).to.equal(200);
      expect(answer.ms).to.be.within(FIRST_BYTE_MS - 50, FIRST_BYTE_MS + MARGIN_MS);
      expect(await row(answer)).to.include({ status_code: 200, attempts: 2 });
    });

    it('headers then no body (JSON): 504 upstream_timeout after the idle timeout', async () => {
      queue({ kind: 'headers-then-hang' });
      const answer = await leakFree((client) => chat(client, 'm-headers-hang'));
      expect(answer.status, answer.text).to.equal(504);
      expect(json(answer)).to.have.nested.property('error.code', 'upstream_timeout');
      expect(answer.ms).to.be.within(IDLE_MS - 50, IDLE_MS + MARGIN_MS);
      expect(await row(answer)).to.include({ status_code: 504, error_code: 'upstream_timeout' });
    });

    it('headers then no body (stream): the stream ends with an error event after the idle timeout', async () => {
      queue({ kind: 'headers-then-hang' });
      const answer = await leakFree((client) => chat(client, 'm-headers-hang', true));
      expect(answer.status).to.equal(200);
      expect(answer.text).to.match(/^data: \{"error":\{.*"code":"upstream_error"/m);
      expect(answer.ms).to.be.within(IDLE_MS - 50, IDLE_MS + MARGIN_MS);
      expect(await row(answer)).to.include({ status_code: 200, error_code: 'upstream_stream_failed', abort_reason: 'upstream_idle_timeout' });
    });
  });

  describe('slow streams', () => {
    it('chunks slower than usual but inside the idle timeout arrive complete', async () => {
      queue({ kind: 'slow-stream', intervalMs: IDLE_MS / 3 });
      const answer = await leakFree((client) => chat(client, 'm-slow', true));
      expect(answer.status).to.equal(200);
      const deltas = [...answer.text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
      expect(deltas).to.equal(mock.reply);
      expect(answer.text.trimEnd().endsWith('data: [DONE]')).to.equal(true);
      expect(answer.text).to.not.include('"error"');
      expect(await row(answer)).to.include({ status_code: 200, error_code: null, abort_reason: null });
    });

    it('a gap over the idle timeout ends the stream with an error event after the idle timeout', async () => {
      queue({ kind: 'slow-stream', intervalMs: IDLE_MS * 3 });
      const answer = await leakFree((client) => chat(client, 'm-slow', true));
      expect(answer.status).to.equal(200);
      expect(answer.text).to.include('"role":"assistant"');
      expect(answer.text).to.match(/^data: \{"error":\{.*"code":"upstream_error"/m);
      expect(answer.ms).to.be.within(IDLE_MS - 50, IDLE_MS + MARGIN_MS);
      expect(await row(answer)).to.include({ status_code: 200, error_code: 'upstream_stream_failed', abort_reason: 'upstream_idle_timeout' });
    });
  });

  describe('a stream cut mid-way', () => {
    it('delivers what came, then ends with an error event in the client format; the log row names the cut', async () => {
      queue({ kind: 'cut-stream', after: 2 });
      const answer = await leakFree((client) => chat(client, 'm-cut', true));
      expect(answer.status).to.equal(200);
      const deltas = [...answer.text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');
      expect(deltas).to.equal(mock.reply.split(/(?<= )/).slice(0, 2).join(''));
      expect(answer.text).to.match(/^data: \{"error":\{.*"code":"upstream_error"/m);
      expect(answer.text).to.not.include('[DONE]');
      expect(answer.ms).to.be.below(MARGIN_MS);
      const logged = await row(answer);
      expect(logged).to.include({ status_code: 200, error_code: 'upstream_stream_failed' });
      // The socket closed under the stream (undici's UND_ERR_SOCKET after the headers): a cut, by name.
      expect(logged.abort_reason).to.equal('upstream_connection_closed');
    });
  });
});
