import { expect } from 'chai';
import { logBatchJobId, MAX_LOG_BATCH } from '../../jobs/logs/definition.js';
import { persistRequestLogs } from '../../src/domain/request-logs.service.js';
import type { RequestLogRecord } from '../../src/gateway/types.js';
import { testEnv } from '../support/hooks.js';
import { ADMIN_TOKEN, BODY_LIMIT_BYTES, expectError, expectFieldError, startTestApi, useTestApi, type TestApi } from './helpers.js';

/** startTestApi's EZ_INTERNAL_TOKEN. */
const INTERNAL_TOKEN = 'ezint_test-internal-token-0123456789';
const internal = (token = INTERNAL_TOKEN) => ({ 'X-Internal-Token': token });

function record(requestId: string, fields: Partial<RequestLogRecord> = {}): RequestLogRecord {
  return {
    request_id: requestId,
    created_at: new Date(Date.now() - 60_000).toISOString(),
    master_id: 1,
    key_id: 2,
    namespace: 'default',
    model: 'gpt-4o',
    upstream_model: 'gpt-4o',
    provider_group_id: 3,
    api_key_id: 4,
    format_in: 'openai',
    format_out: 'openai',
    stream: true,
    status_code: 200,
    error_code: null,
    error_message: null,
    latency_ms: 850,
    ttft_ms: 120,
    prompt_tokens: 12,
    completion_tokens: 40,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    cost_list: 0.0004,
    cost_actual: 0.0004,
    usage_source: 'upstream',
    client_ip: '198.51.100.4',
    attempts: 1,
    request_body: null,
    abort_reason: null,
    ...fields,
  };
}

describe('internal log intake: POST /logs', function () {
  const api = useTestApi('internal-logs', { token: null });
  const post = (body: unknown, headers: Record<string, string> = internal()) => api.call('POST', '/logs', body, headers);
  const logsQueue = () => api.deps.queues.get('logs');

  afterEach(async function () {
    await logsQueue().obliterate({ force: true });
  });

  it('refuses a missing, empty, wrong or misplaced token with 401, before reading the body', async function () {
    const body = { records: [record('auth-1')] };
    const attempts: Array<Record<string, string>> = [
      {},
      internal(''),
      internal('wrong'),
      internal(`${INTERNAL_TOKEN}x`),
      internal(INTERNAL_TOKEN.slice(0, -1)),
      internal(ADMIN_TOKEN),
      { Authorization: `Bearer ${INTERNAL_TOKEN}` },
      internal('x'.repeat(5_000)),
    ];
    for (const headers of attempts) {
      const res = await post(body, headers);
      expectError(res, 401, 'unauthorized');
      expect(res.headers.get('www-authenticate')).to.contain('EZ-API internal');
      expect(res.text).to.not.contain(INTERNAL_TOKEN);
    }
    // Not even a malformed body is looked at without the token.
    expectError(await post('{not json', {}), 401, 'unauthorized');
    expect(await logsQueue().getJobCounts()).to.deep.include({ waiting: 0, delayed: 0 });
    // The internal token is no admin credential either.
    expectError(await api.call('GET', '/admin/logs', undefined, { Authorization: `Bearer ${INTERNAL_TOKEN}` }), 401, 'unauthorized');
  });

  it('accepts a batch: 202, one `logs` job with exactly the records, under the batch jobId', async function () {
    const records = [
      record('batch-a'),
      record('batch-b', { status_code: 0, abort_reason: 'client_disconnected', stream: false, ttft_ms: null, usage_source: null }),
      record('batch-c', { created_at: '2026-01-31T12:00:00.123456+02:00', master_id: null, key_id: null, format_out: 'anthropic' }),
    ];
    const res = await post({ records });
    expect(res.status, res.text).to.equal(202);
    expect(res.body).to.deep.equal({ accepted: 3 });
    const jobs = await logsQueue().getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
    expect(jobs).to.have.length(1);
    const [job] = jobs;
    expect(job!.name).to.equal('logs');
    expect(job!.id).to.equal(logBatchJobId(records));
    expect(job!.data).to.deep.equal({ records });
    // The same batch again (a retry after a lost answer) does not add a second job.
    expect((await post({ records })).status).to.equal(202);
    expect(await logsQueue().getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).to.have.length(1);
  });

  it('the queued batch persists and shows up in GET /admin/logs', async function () {
    const records = [record('e2e-1', { request_body: '{"hello":"world"}' }), record('e2e-2', { status_code: 503, error_code: 'upstream_unavailable' })];
    expect((await post({ records })).status).to.equal(202);
    const job = await logsQueue().getJob(logBatchJobId(records));
    await persistRequestLogs(testEnv().knex, (job!.data as { records: RequestLogRecord[] }).records);
    const list = await api.call<{ data: Array<{ request_id: string; request_body?: string | null }> }>('GET', '/admin/logs?include_body=true', undefined, {
      Authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(list.status, list.text).to.equal(200);
    expect(list.body.data.map((r) => r.request_id).sort()).to.deep.equal(['e2e-1', 'e2e-2']);
    expect(list.body.data.find((r) => r.request_id === 'e2e-1')!.request_body).to.equal('{"hello":"world"}');
  });

  it('takes batches larger than the api-wide body limit', async function () {
    const records = Array.from({ length: 40 }, (_, i) => record(`big-${i}`, { request_body: 'x'.repeat(500) }));
    expect(JSON.stringify({ records }).length).to.be.above(10 * BODY_LIMIT_BYTES);
    const res = await post({ records });
    expect(res.status, res.text).to.equal(202);
    expect(res.body).to.deep.equal({ accepted: 40 });
    expect((await logsQueue().getJob(logBatchJobId(records)))!.data).to.deep.equal({ records });
  });

  it('refuses a bad record with 400 naming it, and queues nothing', async function () {
    const good = [record('v-0'), record('v-1'), record('v-2')];
    const cases: Array<[unknown, string]> = [
      [{ records: [...good, record('v-3', { status_code: 1000 })] }, 'body.records.3.status_code'],
      [{ records: [...good, { ...record('v-3'), status_code: '200' }] }, 'body.records.3.status_code'],
      [{ records: [record('v-0', { created_at: 'yesterday' })] }, 'body.records.0.created_at'],
      [{ records: [record('v-0', { format_in: 'soap' as never })] }, 'body.records.0.format_in'],
      [{ records: [record('v-0', { prompt_tokens: -1 })] }, 'body.records.0.prompt_tokens'],
      [{ records: [record('v-0', { request_id: '' })] }, 'body.records.0.request_id'],
      [{ records: [good[0], (({ latency_ms: _l, ...rest }) => rest)(record('v-1'))] }, 'body.records.1.latency_ms'],
      [{ records: [{ ...record('v-0'), password: 'x' }] }, 'body.records.0'],
      [{ records: [good[0], 'not a record'] }, 'body.records.1'],
      [{ records: [] }, 'body.records'],
      [{ records: good, extra: true }, 'body'],
      [{}, 'body.records'],
      [[good[0]], 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await post(body);
      expectFieldError(res, field);
    }
    expectError(await post('{"records": [', internal()), 400, 'invalid_json');
    expectError(await post(undefined), 400, 'validation_failed');
    expect(await logsQueue().getJobCounts()).to.deep.include({ waiting: 0, delayed: 0 });
  });

  it(`refuses more than ${MAX_LOG_BATCH} records`, async function () {
    const tiny = { ...record('t'), error_message: null };
    const records = Array.from({ length: MAX_LOG_BATCH + 1 }, (_, i) => ({ ...tiny, request_id: `t-${i}` }));
    expectFieldError(await post({ records }), 'body.records');
  });
});

describe('internal log intake while Redis is unreachable', function () {
  let api: TestApi;

  before(async function () {
    api = await startTestApi({ queueName: 'internal-logs-down' });
  });
  after(async function () {
    await api.close();
  });

  it('answers 503 service_unavailable so the data plane retries', async function () {
    // The producer connection goes away, as when Redis is down: enqueue fails fast.
    await api.deps.queues.close();
    const reply = await fetch(`${api.url}/logs`, {
      method: 'POST',
      headers: { ...internal(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ records: [record('down-1')] }),
    });
    const body = (await reply.json()) as { error: { code: string } };
    expect(reply.status, JSON.stringify(body)).to.equal(503);
    expect(body.error.code).to.equal('service_unavailable');
  });
});
