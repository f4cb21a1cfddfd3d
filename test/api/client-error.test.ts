import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createQueues, type QueueSet } from '../../jobs/queues.js';
import { startApi } from '../../src/api/server.js';
import { loadConfig } from '../../src/lib/config.js';
import type { RunningServer } from '../../src/lib/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { rawRequest, type RawResponse } from '../faults/support/raw-http.js';
import { testEnv } from '../support/hooks.js';
import { ADMIN_TOKEN, EZ_SECRET, type ErrorJson } from './helpers.js';

/**
 * The api's HTTP edge (docs/http-edge.md): requests node's parser refuses and clients too slow to
 * send their request get the api's JSON error with `Connection: close`, in seconds rather than
 * node's 30 s check interval, and never an echo of the bytes they sent.
 */

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
/** What a loaded 2-core machine may add on top of a timeout and the 500 ms check interval. */
const MARGIN_MS = 2_500;

describe('api: HTTP client errors', function () {
  this.timeout(30_000);
  let api: RunningServer;
  let redis: Redis;
  let queues: QueueSet;
  let cwd: string;
  const logLines: string[] = [];
  const canary = `sk-canary-${randomUUID().replaceAll('-', '')}`;
  /** Not shaped like a secret, so log redaction cannot hide it: it must simply never be logged. */
  const marker = `raw-bytes-marker-${randomUUID()}`;
  const secretHeaders = `Authorization: Bearer ${canary}\r\nX-Marker: ${marker}`;

  before(async () => {
    const env = testEnv();
    cwd = mkdtempSync(path.join(tmpdir(), 'ez-api-client-error-'));
    const config = loadConfig({
      env: {
        EZ_ENV: 'test',
        EZ_PG_DSN: env.pgUrl,
        EZ_REDIS_URL: env.redisUrl,
        EZ_ADMIN_TOKEN: ADMIN_TOKEN,
        EZ_SECRET,
        EZ_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        EZ_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      },
      cwd,
    });
    redis = createRedis({ url: env.redisUrl, defaulted: false }, 'producer');
    redis.on('error', () => {});
    await waitForRedis(redis, 5_000);
    queues = createQueues({ url: env.redisUrl, defaulted: false }, `ez-test-client-error-${randomUUID().slice(0, 8)}`);
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    api = await startApi({
      config,
      secrets: { master: EZ_SECRET, adminToken: ADMIN_TOKEN, internalToken: 'ezint_test-internal-token-0123456789', generated: [] },
      knex: env.knex,
      redis,
      queues,
      logger: createLogger({ level: 'debug', destination }),
      port: 0,
      host: '127.0.0.1',
    });
  });

  after(async () => {
    await api?.close();
    await queues?.close();
    if (redis) await closeRedis(redis);
    rmSync(cwd, { recursive: true, force: true });
  });

  /** The api's JSON error of `status`, sent with Connection: close, echoing nothing. */
  const expectJsonError = (res: RawResponse, status: number): ErrorJson => {
    expect(res.status, res.body).to.equal(status);
    expect(res.headers['content-type']).to.equal('application/json');
    expect(res.headers.connection).to.equal('close');
    expect(Number(res.headers['content-length'])).to.equal(Buffer.byteLength(res.body));
    const body = JSON.parse(res.body) as ErrorJson;
    expect(Object.keys(body.error)).to.have.members(['code', 'message']);
    expect(body.error.code).to.be.a('string').and.not.equal('');
    expect(body.error.message).to.be.a('string').and.not.equal('');
    const answer = JSON.stringify(res);
    expect(answer).to.not.include(canary);
    expect(answer).to.not.include(marker);
    expect(answer).to.not.include(ADMIN_TOKEN);
    return body;
  };

  it('answers a malformed request line with 400 JSON', async () => {
    const res = await rawRequest(api.port, { head: `GARB@GE /admin/masters HTTP/1.1\r\nHost: 127.0.0.1\r\n${secretHeaders}` });
    expect(expectJsonError(res, 400).error).to.deep.equal({ code: 'validation_failed', message: 'Malformed HTTP request (HPE_INVALID_METHOD)' });
  });

  it('answers headers over 16 KiB with 431 JSON', async () => {
    const res = await rawRequest(api.port, { head: `GET /admin/masters HTTP/1.1\r\nHost: 127.0.0.1\r\n${secretHeaders}\r\nX-Big: ${'a'.repeat(20_000)}` });
    expect(expectJsonError(res, 431).error).to.deep.equal({ code: 'validation_failed', message: 'Request header fields are too large' });
  });

  it('answers a body with invalid chunked encoding with 400 JSON', async () => {
    // Head and broken chunk in one write, so the parser refuses it before any middleware could answer.
    const head = `POST /admin/masters HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nX-Marker: ${marker}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"nam\r\nzz`;
    const res = await rawRequest(api.port, { head });
    expect(expectJsonError(res, 400).error.message).to.equal('Malformed HTTP request (HPE_INVALID_CHUNK_SIZE)');
  });

  it('answers a client that stalls mid-headers with 408 JSON soon after headersTimeout, not 30 s later', async () => {
    const res = await rawRequest(api.port, { head: `GET /admin/masters HTTP/1.1\r\nHost: 127.0.0.1\r\n${secretHeaders}`, openHead: true, timeoutMs: 15_000 });
    expect(res.timedOut).to.equal(false);
    expect(expectJsonError(res, 408).error.code).to.equal('request_timeout');
    expect(res.closedAfterMs).to.be.within(HEADERS_TIMEOUT_MS - 50, HEADERS_TIMEOUT_MS + MARGIN_MS);
  });

  it('answers a client that stalls mid-body with 408 JSON soon after requestTimeout', async () => {
    const head = `POST /admin/masters HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nX-Marker: ${marker}\r\nContent-Type: application/json\r\nContent-Length: 100`;
    const res = await rawRequest(api.port, { head, body: '{"name":', timeoutMs: 15_000 });
    expect(res.timedOut).to.equal(false);
    expect(expectJsonError(res, 408).error.code).to.equal('request_timeout');
    expect(res.closedAfterMs).to.be.within(REQUEST_TIMEOUT_MS - 50, REQUEST_TIMEOUT_MS + MARGIN_MS);
  });

  it('still serves well-formed requests, and logged nothing above debug nor the raw bytes', async () => {
    const res = await rawRequest(api.port, { head: 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close' });
    expect(res.status).to.equal(200);
    expect(logLines.filter((line) => line.includes('refused a malformed or slow HTTP request'))).to.have.length.of.at.least(5);
    for (const line of logLines) {
      expect(line).to.not.include(marker);
      expect(line).to.not.include(canary);
    }
    expect(logLines.filter((line) => (JSON.parse(line) as { level: number }).level > 30)).to.deep.equal([]);
  });
});
