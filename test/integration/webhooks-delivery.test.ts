import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { Webhook } from 'standardwebhooks';
import { createQueues, type QueueSet } from '../../jobs/queues.js';
import { webhookJobId } from '../../jobs/webhooks/definition.js';
import { publishWebhookEvent } from '../../jobs/webhooks/publish.js';
import { startWorker, type RunningWorker } from '../../jobs/worker.js';
import { webhookEvent } from '../../src/domain/webhook-events.js';
import { createWebhook, type WebhookDto } from '../../src/domain/webhooks.service.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { apiClient, startTestApi, EZ_SECRET, type TestApi } from '../api/helpers.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

const logger = createLogger({ level: 'silent' });
/** Short enough for a test, long enough to tell a retry from the first try. */
const BACKOFF_MS = 200;
const TIMEOUT_MS = 600;

/** What a receiver does with one request: answer a status (optionally with headers), or never answer. */
type Action = number | { status: number; headers: Record<string, string> } | 'hang';

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

interface Receiver {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

/** A loopback receiver playing `script` in order (then 200 for everything). */
async function startReceiver(script: Action[] = []): Promise<Receiver> {
  const requests: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      requests.push({ path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const action = script.shift() ?? 200;
      if (action === 'hang') return;
      const { status, headers: extra } = typeof action === 'number' ? { status: action, headers: {} } : action;
      res.writeHead(status, { 'content-type': 'text/plain', ...extra }).end(status >= 300 ? `answer ${status}` : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` every 25 ms until it returns a value, for at most `timeoutMs`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

type AttemptRow = { webhook_id: number; event_id: string; event_type: string; attempt: number; status_code: number | null; error: string | null };
const attempts = async (webhookId?: number) => {
  const query = testEnv().knex('webhook_deliveries').orderBy('id').select('webhook_id', 'event_id', 'event_type', 'attempt', 'status_code', 'error');
  if (webhookId !== undefined) query.where('webhook_id', webhookId);
  return (await query) as AttemptRow[];
};

describe('webhooks delivery (worker, real queue, loopback receivers)', function () {
  this.timeout(60_000);
  let api: TestApi;
  let config: Config;
  let worker: RunningWorker;
  let queues: QueueSet;
  const receivers: Receiver[] = [];
  const box = new SecretBox(EZ_SECRET);

  before(async () => {
    api = await startTestApi({ queueName: 'webhooks-delivery' });
  });
  after(async () => {
    await api.close();
  });

  beforeEach(async () => {
    await resetDatabase();
    const prefix = `ez-test-${randomUUID().slice(0, 8)}`;
    config = {
      ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix, EZ_WEBHOOK_BACKOFF_MS: String(BACKOFF_MS), EZ_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS) }, cwd: tmpdir() }),
      redis: { url: testEnv().redisUrl, defaulted: false },
    };
    queues = createQueues(config.redis, prefix, ['webhooks']);
    worker = await startWorker({ config, secrets: { master: EZ_SECRET }, knex: testEnv().knex, logger, queueNames: ['webhooks'] });
  });

  afterEach(async () => {
    await worker.close();
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    await queues.get('webhooks').obliterate({ force: true });
    await queues.close();
  });

  const receiver = async (script: Action[] = []) => {
    const r = await startReceiver(script);
    receivers.push(r);
    return r;
  };
  const addWebhook = (url: string, events: string[] = []): Promise<WebhookDto> =>
    createWebhook({ knex: testEnv().knex, nudge: async () => {} }, { actor: { type: 'admin', id: 'test' } }, box, { url, description: '', events });
  const publish = (type: string, data: Record<string, unknown>, id?: string) =>
    publishWebhookEvent({ knex: testEnv().knex, queues }, webhookEvent(type, data, id === undefined ? {} : { id }));
  const jobState = async (webhookId: number, eventId: string) =>
    (await queues.get('webhooks').getJob(webhookJobId({ target: { kind: 'webhook', id: webhookId }, event: { id: eventId, type: 'x', data: {} } })))?.getState();
  const finished = (webhookId: number, eventId: string) =>
    waitFor(`job of ${eventId} to finish`, async () => {
      const state = await jobState(webhookId, eventId);
      return state === 'completed' || state === 'failed' ? state : undefined;
    });

  it('deliveries verify with the standardwebhooks package', async () => {
    const r = await receiver();
    const hook = await addWebhook(`${r.url}/hook?token=abc`);
    const { event_id, enqueued } = await publish('alert.created', { alert_id: 7, severity: 'critical' });
    expect(enqueued).to.equal(1);
    expect(await finished(hook.id, event_id)).to.equal('completed');

    expect(r.requests).to.have.length(1);
    const [request] = r.requests;
    expect(request!.path).to.equal('/hook?token=abc');
    const verified = new Webhook(hook.secret).verify(request!.body, request!.headers) as { type: string; timestamp: string; data: Record<string, unknown> };
    expect(verified).to.deep.equal(JSON.parse(request!.body));
    expect(verified.type).to.equal('alert.created');
    expect(verified.data).to.deep.equal({ alert_id: 7, severity: 'critical' });
    expect(Date.parse(verified.timestamp)).to.be.closeTo(Date.now(), 60_000);
    expect(request!.headers['webhook-id']).to.equal(event_id);
    // A wrong secret does not verify.
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(request!.body, request!.headers)).to.throw();
  });

  it('a receiver failing twice (500) then succeeding gets exactly three attempts with one webhook-id, listed by GET /:id/deliveries', async () => {
    const r = await receiver([500, 500, 200]);
    const hook = await addWebhook(`${r.url}/flaky`);
    const { event_id } = await publish('alert.created', { alert_id: 1 });
    expect(await finished(hook.id, event_id)).to.equal('completed');

    expect(r.requests).to.have.length(3);
    expect(r.requests.map((q) => q.headers['webhook-id'])).to.deep.equal([event_id, event_id, event_id]);
    for (const q of r.requests) expect(() => new Webhook(hook.secret).verify(q.body, q.headers)).not.to.throw();
    // Backed off: each retry waited at least the configured first delay.
    expect(r.requests[1]!.at - r.requests[0]!.at).to.be.at.least(BACKOFF_MS - 20);
    expect(r.requests[2]!.at - r.requests[1]!.at).to.be.at.least(2 * BACKOFF_MS - 20);

    const admin = apiClient<{ data: Array<{ event_id: string; attempt: number; status_code: number | null; error: string | null }> }>(() => api.url);
    const listed = await admin.call('GET', `/admin/webhooks/${hook.id}/deliveries`);
    expect(listed.status, listed.text).to.equal(200);
    expect(listed.body.data.map((d) => [d.event_id, d.attempt, d.status_code, d.error?.slice(0, 8) ?? null])).to.deep.equal([
      [event_id, 3, 200, null],
      [event_id, 2, 500, 'HTTP 500'],
      [event_id, 1, 500, 'HTTP 500'],
    ]);
  });

  it('a hanging receiver times out after the configured timeout and is retried', async () => {
    const r = await receiver(['hang', 200]);
    const hook = await addWebhook(`${r.url}/slow`);
    const { event_id } = await publish('alert.created', { alert_id: 2 });
    expect(await finished(hook.id, event_id)).to.equal('completed');
    const rows = await attempts(hook.id);
    expect(rows.map((a) => [a.attempt, a.status_code])).to.deep.equal([
      [1, null],
      [2, 200],
    ]);
    expect(rows[0]!.error).to.match(/timed out after 600 ms/);
    expect(r.requests.map((q) => q.headers['webhook-id'])).to.deep.equal([event_id, event_id]);
  });

  it('410 disables the webhook (reason recorded) and no further attempts happen', async () => {
    const r = await receiver([410]);
    const hook = await addWebhook(`${r.url}/gone`);
    const { event_id } = await publish('alert.created', { alert_id: 3 });
    expect(await finished(hook.id, event_id)).to.equal('failed');
    const row = (await testEnv().knex('webhooks').where('id', hook.id).first()) as { status: string; disabled_reason: string };
    expect(row.status).to.equal('disabled');
    expect(row.disabled_reason).to.match(/410 Gone/);

    // Published events skip the disabled webhook; a delivery already queued is skipped, not sent.
    expect((await publish('alert.created', { alert_id: 4 })).enqueued).to.equal(0);
    await queues.get('webhooks').add('webhooks', { target: { kind: 'webhook', id: hook.id }, event: { id: 'msg_queued', type: 'alert.created', data: {} } }, { jobId: 'late' });
    await waitFor('the queued job to finish', async () => ((await (await queues.get('webhooks').getJob('late'))?.getState()) === 'completed' ? true : undefined));
    expect(r.requests).to.have.length(1);
    expect((await attempts(hook.id)).map((a) => [a.attempt, a.status_code])).to.deep.equal([[1, 410]]);
  });

  it('a 429 with Retry-After waits as long as the receiver asks', async () => {
    const r = await receiver([{ status: 429, headers: { 'retry-after': '2' } }, 200]);
    const hook = await addWebhook(`${r.url}/busy`);
    const { event_id } = await publish('alert.created', { alert_id: 5 });
    expect(await finished(hook.id, event_id)).to.equal('completed');
    expect(r.requests).to.have.length(2);
    // The configured backoff alone would retry after 200 ms.
    expect(r.requests[1]!.at - r.requests[0]!.at).to.be.at.least(1_900);
    const [first] = await attempts(hook.id);
    expect(first!.error).to.match(/^HTTP 429 \(Retry-After 2 s\)/);
  });

  it('publishEvent delivers to subscribed active webhooks only: exact, wildcard, empty = all; disabled skipped; republishing dedupes', async () => {
    const r = await receiver();
    const exact = await addWebhook(`${r.url}/exact`, ['alert.created']);
    const family = await addWebhook(`${r.url}/family`, ['alert.*']);
    const all = await addWebhook(`${r.url}/all`, []);
    const otherType = await addWebhook(`${r.url}/other`, ['quota.exhausted', 'alert.resolved']);
    const otherFamily = await addWebhook(`${r.url}/other-family`, ['alerts.*']);
    const disabled = await addWebhook(`${r.url}/disabled`, []);
    await testEnv().knex('webhooks').where('id', disabled.id).update({ status: 'disabled' });

    const eventId = 'alert_42_created';
    const { enqueued } = await publish('alert.created', { alert_id: 42 }, eventId);
    expect(enqueued).to.equal(3);
    for (const hook of [exact, family, all]) expect(await finished(hook.id, eventId)).to.equal('completed');
    expect(r.requests.map((q) => q.path).sort()).to.deep.equal(['/all', '/exact', '/family']);
    for (const hook of [otherType, otherFamily, disabled]) expect(await jobState(hook.id, eventId), String(hook.id)).to.equal(undefined);

    // The same event published again: same jobIds, nothing delivered twice.
    expect((await publish('alert.created', { alert_id: 42 }, eventId)).enqueued).to.equal(3);
    const again = await publish('quota.exhausted', { key_id: 1 });
    expect(again.enqueued).to.equal(2);
    for (const hook of [all, otherType]) expect(await finished(hook.id, again.event_id)).to.equal('completed');
    expect(r.requests.map((q) => q.path).sort()).to.deep.equal(['/all', '/all', '/exact', '/family', '/other']);
    expect((await attempts()).filter((a) => a.event_id === eventId)).to.have.length(3);
  });
});
