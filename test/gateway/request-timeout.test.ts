import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type QueueSet } from '../../jobs/queues.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { queuedLogRecord, startTestGateway, stopTestGateway } from '../support/test-gateway.js';
import { publish, seedGroup, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { startMockUpstream, type MockUpstream } from '../support/mock-upstream.js';

/**
 * A provider group's `request_timeout_ms` bounds each attempt as a whole (connect → last body
 * byte, streams included; docs/gateway.md "Timeouts"): before the first byte reached the client it
 * is a timeout of that attempt (failover, else 504 upstream_timeout naming the reason); after, the
 * stream ends with an error event in the client's format and the log row says
 * `upstream_request_timeout`. A group without it is unaffected.
 */

/** The group bound under test, well under the first-byte and idle timeouts. */
const REQUEST_MS = 600;
/** First-byte and idle timeouts of every group here: long enough never to be what fires. */
const SLOW_MS = 8_000;
/** What a loaded 2-core machine may add on top of a timeout. */
const MARGIN_MS = 1_500;
/** A stream chunk every 250 ms: the mock's 5-word reply takes ~1.25 s, twice REQUEST_MS. */
const CHUNK_MS = 250;

interface Answer {
  status: number;
  text: string;
  /** ms from sending to the end of the response body. */
  ms: number;
  requestId: string;
}

describe('gateway: per-attempt request timeout', function () {
  this.timeout(60_000);
  let mock: MockUpstream;
  let redis: Redis;
  let gateway: RunningServer;
  let queues: QueueSet;
  let clientKey: string;
  const prefix = `ez-reqtimeout-${randomUUID().slice(0, 8)}`;

  before(async () => {
    await resetDatabase();
    mock = await startMockUpstream();
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'request-timeout-test');
    await waitForRedis(redis);
    await redis.flushdb();
    const masterId = await seedMaster('reqtimeout');
    clientKey = (await seedKey(masterId, 'ezk_request-timeout-client-key-00000')).key;
    const bounded = { request_timeout_ms: REQUEST_MS, first_byte_timeout_ms: SLOW_MS, idle_timeout_ms: SLOW_MS };
    const unbounded = { first_byte_timeout_ms: SLOW_MS, idle_timeout_ms: SLOW_MS };
    // One model per case, so no case inherits another's breaker state.
    const openai = (name: string, keys: number, extra: Record<string, unknown>) =>
      seedGroup({ name, type: 'openai', base_url: `${mock.url}/v1`, models: [name], keys: Array.from({ length: keys }, (_, i) => `sk-upstream-${name}-${i}-0000000000`), extra });
    await openai('rt-slow', 1, bounded);
    await openai('rt-hang', 1, bounded);
    await openai('rt-hang-failover', 2, bounded);
    await openai('rt-headers-hang', 1, bounded);
    await openai('rt-fast', 1, bounded);
    await openai('rt-none', 1, unbounded);
    await seedGroup({ name: 'rt-claude', type: 'anthropic', base_url: mock.url, models: ['rt-claude'], keys: ['sk-ant-upstream-rt-0000000000'], extra: bounded });
    await publish(redis);

    ({ gateway, queues } = await startTestGateway(redis, prefix, ['logs']));
  });

  after(async () => {
    await stopTestGateway(gateway, queues);
    await mock?.close();
    await closeRedis(redis);
  });

  beforeEach(() => {
    mock.requests.length = 0;
    mock.faults.length = 0;
    mock.chunkIntervalMs = 0;
  });

  async function send(path: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
    const requestId = `rt-${randomUUID()}`;
    const started = performance.now();
    const res = await fetch(`${gateway.url}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}`, 'x-request-id': requestId, ...headers },
    });
    const text = await res.text();
    return { status: res.status, text, ms: performance.now() - started, requestId };
  }

  const chat = (model: string, stream: boolean) => send('/v1/chat/completions', { model, stream, messages: [{ role: 'user', content: 'hi' }] });

  const logRecord = (requestId: string) => queuedLogRecord(queues, requestId);

  /** Resolves with the time the upstream saw the gateway close request `index`'s connection, or fails after `ms`. */
  async function upstreamClosed(index: number, ms = 5_000): Promise<number> {
    const closed = mock.requests[index]?.closed;
    if (!closed) throw new Error(`the upstream saw no request #${index}`);
    return Promise.race([closed, sleep(ms).then(() => Promise.reject(new Error('the upstream connection stayed open')))]);
  }

  const deltas = (text: string) => [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');

  describe('after streaming began', () => {
    it('cuts a stream slower than request_ms at ≈ request_ms with an error event, aborts the upstream and bills the delivered part', async () => {
      mock.faults.push({ kind: 'slow-stream', intervalMs: CHUNK_MS });
      const answer = await chat('rt-slow', true);
      expect(answer.status).to.equal(200);
      expect(answer.ms).to.be.within(REQUEST_MS - 50, REQUEST_MS + MARGIN_MS);
      const delivered = deltas(answer.text);
      expect(delivered.length).to.be.above(0);
      expect(mock.reply.startsWith(delivered)).to.equal(true);
      expect(delivered).to.not.equal(mock.reply);
      expect(answer.text).to.match(/^data: \{"error":\{.*"code":"upstream_error"/m);
      expect(answer.text).to.not.include('[DONE]');
      await upstreamClosed(0);
      const logged = await logRecord(answer.requestId);
      expect(logged).to.include({ status_code: 200, error_code: 'upstream_stream_failed', abort_reason: 'upstream_request_timeout', attempts: 1, usage_source: 'estimated' });
      expect(logged.error_message).to.include('request_timeout');
      expect(logged.completion_tokens).to.be.above(0);
    });

    it('ends an Anthropic client stream with an error event in the Anthropic format', async () => {
      mock.faults.push({ kind: 'slow-stream', intervalMs: CHUNK_MS });
      const answer = await send('/v1/messages', { model: 'rt-claude', stream: true, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' });
      expect(answer.status).to.equal(200);
      expect(answer.ms).to.be.within(REQUEST_MS - 50, REQUEST_MS + MARGIN_MS);
      expect(answer.text).to.include('event: content_block_delta');
      expect(answer.text).to.match(/^event: error\ndata: \{"type":"error"/m);
      expect(answer.text).to.not.include('event: message_stop');
      expect(await logRecord(answer.requestId)).to.include({ status_code: 200, error_code: 'upstream_stream_failed', abort_reason: 'upstream_request_timeout' });
    });
  });

  describe('before the first byte reached the client', () => {
    it('a hanging upstream is answered 504 upstream_timeout at ≈ request_ms (shorter than the first-byte timeout), naming the reason', async () => {
      mock.faults.push({ kind: 'hang' });
      const answer = await chat('rt-hang', false);
      expect(answer.status, answer.text).to.equal(504);
      const error = (JSON.parse(answer.text) as { error: { code: string; message: string } }).error;
      expect(error.code).to.equal('upstream_timeout');
      expect(error.message).to.include('request_timeout');
      expect(answer.ms).to.be.within(REQUEST_MS - 50, REQUEST_MS + MARGIN_MS);
      await upstreamClosed(0);
      const logged = await logRecord(answer.requestId);
      expect(logged).to.include({ status_code: 504, error_code: 'upstream_timeout', attempts: 1, completion_tokens: 0, cost_actual: 0 });
    });

    it('a hanging stream request is answered 504 too (nothing was sent yet)', async () => {
      mock.faults.push({ kind: 'hang' });
      const answer = await chat('rt-hang', true);
      expect(answer.status, answer.text).to.equal(504);
      expect(answer.ms).to.be.within(REQUEST_MS - 50, REQUEST_MS + MARGIN_MS);
      expect(await logRecord(answer.requestId)).to.include({ status_code: 504, error_code: 'upstream_timeout', stream: true });
    });

    it('a hanging key is failed over after ≈ request_ms, and the next key answers in full', async () => {
      mock.faults.push({ kind: 'hang' });
      const answer = await chat('rt-hang-failover', true);
      expect(answer.status, answer.text).to.equal(200);
      expect(deltas(answer.text)).to.equal(mock.reply);
      expect(answer.text.trimEnd().endsWith('data: [DONE]')).to.equal(true);
      expect(answer.ms).to.be.within(REQUEST_MS - 50, REQUEST_MS + MARGIN_MS);
      expect(mock.requests).to.have.length(2);
      expect(await logRecord(answer.requestId)).to.include({ status_code: 200, attempts: 2, error_code: null, abort_reason: null });
    });

    it('a non-stream body still being read when the bound hits is a 504', async () => {
      mock.faults.push({ kind: 'headers-then-hang' });
      const answer = await chat('rt-headers-hang', false);
      expect(answer.status, answer.text).to.equal(504);
      const error = (JSON.parse(answer.text) as { error: { code: string; message: string } }).error;
      expect(error).to.include({ code: 'upstream_timeout' });
      expect(error.message).to.include('request_timeout');
      expect(answer.ms).to.be.within(REQUEST_MS - 50, REQUEST_MS + MARGIN_MS);
      expect(await logRecord(answer.requestId)).to.include({ status_code: 504, error_code: 'upstream_timeout' });
    });
  });

  describe('a client that leaves while a non-stream body is read', () => {
    it('is logged 499 client_disconnected (not a 502 of the upstream), and the upstream is closed', async () => {
      mock.faults.push({ kind: 'headers-then-hang' });
      const requestId = `rt-${randomUUID()}`;
      const controller = new AbortController();
      const pending = fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        signal: controller.signal,
        body: JSON.stringify({ model: 'rt-none', messages: [{ role: 'user', content: 'hi' }] }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${clientKey}`, 'x-request-id': requestId },
      }).catch((err: unknown) => err);
      for (let i = 0; i < 100 && mock.requests.length === 0; i++) await sleep(20);
      await sleep(100); // the upstream's headers are in; the gateway waits on the body
      controller.abort();
      expect(await pending).to.be.instanceOf(Error);
      await upstreamClosed(0);
      expect(await logRecord(requestId)).to.include({ status_code: 499, abort_reason: 'client_disconnected' });
    });
  });

  describe('unaffected answers', () => {
    it('an answer inside request_ms arrives complete', async () => {
      const answer = await chat('rt-fast', true);
      expect(answer.status).to.equal(200);
      expect(deltas(answer.text)).to.equal(mock.reply);
      expect(await logRecord(answer.requestId)).to.include({ status_code: 200, error_code: null, abort_reason: null, usage_source: 'upstream' });
    });

    it('a group without request_timeout_ms streams the same slow answer to the end', async () => {
      mock.faults.push({ kind: 'slow-stream', intervalMs: CHUNK_MS });
      const answer = await chat('rt-none', true);
      expect(answer.status).to.equal(200);
      expect(deltas(answer.text)).to.equal(mock.reply);
      expect(answer.text.trimEnd().endsWith('data: [DONE]')).to.equal(true);
      expect(answer.text).to.not.include('"error"');
      // Five chunks 250 ms apart: well past REQUEST_MS, so no bound cut it.
      expect(answer.ms).to.be.above(REQUEST_MS + 200);
      expect(await logRecord(answer.requestId)).to.include({ status_code: 200, error_code: null, abort_reason: null });
    });

    it('a group without request_timeout_ms answers a slow non-stream request in full', async () => {
      mock.faults.push({ kind: 'delay', ms: REQUEST_MS + 400 });
      const answer = await chat('rt-none', false);
      expect(answer.status, answer.text).to.equal(200);
      expect((JSON.parse(answer.text) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content).to.equal(mock.reply);
    });
  });
});
