import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { startGateway } from '../../src/gateway/server.js';
import { classifyClientError, clientErrorResponse, serverTimeouts } from '../../src/lib/client-error.js';
import { loadConfig } from '../../src/lib/config.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { rawRequest, type RawResponse } from '../faults/support/raw-http.js';
import { publish, seedKey, seedMaster } from '../support/gateway-fixtures.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { TEST_SECRET } from '../support/sync.js';

/**
 * The gateway's HTTP edge (docs/http-edge.md): requests node's parser refuses and clients too slow
 * to send their request get a JSON error in the OpenAI shape with `Connection: close`, in seconds
 * rather than node's 30 s check interval, and never an echo of the bytes they sent.
 */

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
/** What a loaded 2-core machine may add on top of a timeout and the 500 ms check interval. */
const MARGIN_MS = 2_500;

interface OpenAiError {
  error: { message: string; type: string; param: string | null; code: string };
}

describe('gateway: HTTP client errors', function () {
  this.timeout(30_000);
  let redis: Redis;
  let gateway: RunningServer;
  const logLines: string[] = [];
  const canary = `sk-canary-${randomUUID().replaceAll('-', '')}`;
  /** Not shaped like a secret, so log redaction cannot hide it: it must simply never be logged. */
  const marker = `raw-bytes-marker-${randomUUID()}`;
  const secretHeaders = `Authorization: Bearer ${canary}\r\nX-Marker: ${marker}`;
  /** A valid child key: the gateway reads a body only after the key checks pass. */
  const clientKey = `ezk_client-error-key-${'0'.repeat(20)}`;

  before(async () => {
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'worker', 'client-error-test');
    await waitForRedis(redis);
    // A fresh snapshot: an earlier file's sync marks would make this database's outbox look applied.
    await redis.flushdb();
    await resetDatabase();
    await seedKey(await seedMaster('client-error'), clientKey);
    await publish(redis);
    const config = loadConfig({
      env: {
        EZ_ENV: 'test',
        EZ_REDIS_URL: testEnv().redisUrl,
        EZ_QUEUE_PREFIX: `ez-client-error-${randomUUID().slice(0, 8)}`,
        EZ_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        EZ_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      },
      cwd: tmpdir(),
    });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger({ level: 'debug', destination });
    gateway = await startGateway({ config, secrets: { master: TEST_SECRET }, redis, logger, port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await gateway?.close();
    if (redis) await closeRedis(redis);
  });

  /** A JSON error of `status` in the OpenAI shape, sent with Connection: close, echoing nothing. */
  const expectJsonError = (res: RawResponse, status: number): OpenAiError => {
    expect(res.status, res.body).to.equal(status);
    expect(res.headers['content-type']).to.equal('application/json');
    expect(res.headers.connection).to.equal('close');
    expect(Number(res.headers['content-length'])).to.equal(Buffer.byteLength(res.body));
    const body = JSON.parse(res.body) as OpenAiError;
    expect(body.error.code).to.be.a('string').and.not.equal('');
    expect(body.error.message).to.be.a('string').and.not.equal('');
    expect(body.error.type).to.equal('invalid_request_error');
    expect(body.error).to.have.property('param', null);
    const answer = JSON.stringify(res);
    expect(answer).to.not.include(canary);
    expect(answer).to.not.include(marker);
    return body;
  };

  it('answers a malformed request line with 400 JSON', async () => {
    const res = await rawRequest(gateway.port, { head: `GARB@GE /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n${secretHeaders}` });
    const body = expectJsonError(res, 400);
    expect(body.error.code).to.equal('invalid_request');
    expect(body.error.message).to.equal('Malformed HTTP request (HPE_INVALID_METHOD)');
  });

  it('answers a header with invalid bytes with 400 JSON', async () => {
    const res = await rawRequest(gateway.port, { head: `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n${secretHeaders}\r\nBad Header: ${marker}` });
    expect(expectJsonError(res, 400).error.code).to.equal('invalid_request');
  });

  it('answers headers over 16 KiB with 431 JSON', async () => {
    const res = await rawRequest(gateway.port, { head: `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n${secretHeaders}\r\nX-Big: ${'a'.repeat(20_000)}` });
    const body = expectJsonError(res, 431);
    expect(body.error.message).to.equal('Request header fields are too large');
  });

  it('answers a body with invalid chunked encoding with 400 JSON', async () => {
    // Head and broken chunk in one write, so the parser refuses it before the handler could answer.
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n${secretHeaders}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz`;
    const res = await rawRequest(gateway.port, { head });
    const body = expectJsonError(res, 400);
    expect(body.error.message).to.equal('Malformed HTTP request (HPE_INVALID_CHUNK_SIZE)');
  });

  it('answers a client that stalls mid-headers with 408 JSON soon after headersTimeout, not 30 s later', async () => {
    const res = await rawRequest(gateway.port, { head: `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n${secretHeaders}`, openHead: true, timeoutMs: 15_000 });
    expect(res.timedOut).to.equal(false);
    expect(expectJsonError(res, 408).error.code).to.equal('request_timeout');
    expect(res.closedAfterMs).to.be.within(HEADERS_TIMEOUT_MS - 50, HEADERS_TIMEOUT_MS + MARGIN_MS);
  });

  it('answers a client that stalls mid-body with 408 JSON soon after requestTimeout', async () => {
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${clientKey}\r\nX-Marker: ${marker}\r\nContent-Type: application/json\r\nContent-Length: 100`;
    const res = await rawRequest(gateway.port, { head, body: '{"model":', timeoutMs: 15_000 });
    expect(res.timedOut).to.equal(false);
    expect(expectJsonError(res, 408).error.code).to.equal('request_timeout');
    expect(JSON.stringify(res)).to.not.include(clientKey);
    expect(res.closedAfterMs).to.be.within(REQUEST_TIMEOUT_MS - 50, REQUEST_TIMEOUT_MS + MARGIN_MS);
  });

  it('still serves well-formed requests, and logged nothing above debug nor the raw bytes', async () => {
    const res = await rawRequest(gateway.port, { head: 'GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close' });
    expect(res.status).to.equal(200);
    expect(JSON.parse(res.body)).to.include({ status: 'ready' });
    const refusals = logLines.filter((line) => line.includes('refused a malformed or slow HTTP request'));
    expect(refusals.length).to.be.at.least(5);
    for (const line of logLines) {
      expect(line).to.not.include(marker);
      expect(line).to.not.include(canary);
      if (line.includes('HTTP request') || line.includes('client connection')) expect((JSON.parse(line) as { level: number }).level).to.equal(20);
    }
    expect(logLines.filter((line) => (JSON.parse(line) as { level: number }).level > 30)).to.deep.equal([]);
  });
});

describe(classifyClientError.name, () => {
  const cases: Array<[err: { code?: unknown; syscall?: unknown }, expected: number | undefined]> = [
    [{ code: 'HPE_INVALID_METHOD' }, 400],
    [{ code: 'HPE_INVALID_HEADER_TOKEN' }, 400],
    [{ code: 'HPE_INVALID_CHUNK_SIZE' }, 400],
    [{ code: 'HPE_HEADER_OVERFLOW' }, 431],
    [{ code: 'HPE_CHUNK_EXTENSIONS_OVERFLOW' }, 413],
    [{ code: 'ERR_HTTP_REQUEST_TIMEOUT' }, 408],
    [{ code: 'HPE_HEADERS_TIMEOUT' }, 408],
    [{ code: 'ECONNRESET' }, undefined],
    [{ code: 'EPIPE', syscall: 'write' }, undefined],
    [{ code: 'ERR_SOMETHING_NEW' }, 400],
    [{}, 400],
  ];
  for (const [err, status] of cases) {
    it(`${String(err.code ?? 'no code')} → ${status ?? 'destroy'}`, () => expect(classifyClientError(err)?.status).to.equal(status));
  }

  it('names only fixed parser identifiers in its message', () => {
    expect(classifyClientError({ code: 'HPE_INVALID_METHOD' })?.message).to.equal('Malformed HTTP request (HPE_INVALID_METHOD)');
    expect(classifyClientError({ code: 'HPE_<script>' })?.message).to.equal('Malformed HTTP request');
  });

  it('renders a complete HTTP/1.1 answer with a byte-exact Content-Length', () => {
    const raw = clientErrorResponse({ status: 431, kind: 'headers_too_large', message: 'x' }, { error: { code: 'é', message: 'x' } });
    const [head, body] = raw.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')).to.deep.equal([
      'HTTP/1.1 431 Request Header Fields Too Large',
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
    ]);
    expect(JSON.parse(body)).to.deep.equal({ error: { code: 'é', message: 'x' } });
  });
});

describe(serverTimeouts.name, () => {
  const cases: Array<[headersTimeoutMs: number, requestTimeoutMs: number, expected: ReturnType<typeof serverTimeouts>]> = [
    [10_000, 30_000, { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 }],
    [1_000, 2_000, { headersTimeout: 1_000, requestTimeout: 2_000, connectionsCheckingInterval: 500 }],
    [200, 5_000, { headersTimeout: 200, requestTimeout: 5_000, connectionsCheckingInterval: 250 }],
    // node requires headersTimeout <= requestTimeout.
    [60_000, 3_000, { headersTimeout: 3_000, requestTimeout: 3_000, connectionsCheckingInterval: 1_000 }],
  ];
  for (const [headersTimeoutMs, requestTimeoutMs, expected] of cases) {
    it(`headers ${headersTimeoutMs} ms, request ${requestTimeoutMs} ms → check every ${expected.connectionsCheckingInterval} ms`, () =>
      expect(serverTimeouts({ headersTimeoutMs, requestTimeoutMs })).to.deep.equal(expected));
  }
});
