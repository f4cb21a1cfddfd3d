import { expect } from 'chai';
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { processLogWebhook } from '../../jobs/log-webhook/processor.js';
import type { ProcessorContext } from '../../jobs/processor-context.js';
import { createQueues, type QueueSet } from '../../jobs/queues.js';
import { webhookJobId, webhooksQueue, type WebhooksPayload } from '../../jobs/webhooks/definition.js';
import { processWebhook } from '../../jobs/webhooks/processor.js';
import { getLogWebhook, runLogWebhookDetector, updateLogWebhook, type DetectorResult, type LogWebhookInput } from '../../src/domain/log-webhook.service.js';
import { verifyWebhook } from '../../src/domain/webhook-signature.js';
import { loadConfig, type Config } from '../../src/lib/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { resetDatabase, testEnv } from '../support/hooks.js';

const logger = createLogger({ level: 'silent' });
const MASTER_SECRET = 'w'.repeat(40);
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const BODY_MARKER = 'PRIVATE-PROMPT-TEXT';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

/** A local receiver answering the given statuses in turn (then 200). */
async function startReceiver(answers: number[] = []): Promise<Receiver> {
  const requests: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = answers.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status >= 300 ? `answer ${status}` : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/ez?token=abc`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const verified = (r: Received, secret = WEBHOOK_SECRET) =>
  verifyWebhook(
    secret,
    { 'webhook-id': String(r.headers['webhook-id']), 'webhook-timestamp': String(r.headers['webhook-timestamp']), 'webhook-signature': String(r.headers['webhook-signature']) },
    r.body,
  );

const jobOf = (data: unknown, attemptsMade = 0, timestamp = Date.now()) => ({ id: 'test', data, attemptsMade, opts: {}, timestamp }) as unknown as Job<unknown>;

interface LogSeed {
  status: number;
  secondsAgo: number;
  message?: string | null;
  n?: number;
}

async function seedLogs(now: Date, seeds: LogSeed[]): Promise<void> {
  const rows = seeds.flatMap((s) =>
    Array.from({ length: s.n ?? 1 }, (_, i) => ({
      request_id: `req-${randomUUID()}`,
      created_at: new Date(now.getTime() - s.secondsAgo * 1_000 - i),
      master_id: 7,
      key_id: 42,
      model: 'gpt-4o',
      status_code: s.status,
      error_code: s.status >= 400 ? 'upstream_error' : null,
      error_message: s.message === undefined ? (s.status >= 400 ? 'upstream timed out' : null) : s.message,
      request_body: BODY_MARKER,
      client_ip: '203.0.113.9',
    })),
  );
  await testEnv().knex('request_logs').insert(rows);
}

type DeliveryRow = { target: string; webhook_id: number | null; event_id: string; event_type: string; attempt: number; status_code: number | null; error: string | null; duration_ms: number };
const deliveries = async () =>
  (await testEnv().knex('webhook_deliveries').orderBy('id').select('target', 'webhook_id', 'event_id', 'event_type', 'attempt', 'status_code', 'error', 'duration_ms')) as DeliveryRow[];

describe('log webhook detector and webhooks queue', function () {
  let prefix: string;
  let config: Config;
  let ctx: ProcessorContext;
  let queues: QueueSet;
  let webhooks: Queue;
  let receiver: Receiver | undefined;
  let now: Date;

  beforeEach(async () => {
    await resetDatabase();
    prefix = `ez-test-${randomUUID().slice(0, 8)}`;
    config = { ...loadConfig({ env: { EZ_ENV: 'test', EZ_QUEUE_PREFIX: prefix }, cwd: tmpdir() }), redis: { url: testEnv().redisUrl, defaulted: false } };
    const redis = new Redis(testEnv().redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    redis.on('error', () => {});
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    now = new Date();
    ctx = { config, knex: testEnv().knex, redis, secretBox: new SecretBox(MASTER_SECRET), logger, now: () => now };
    queues = createQueues(config.redis, prefix, ['webhooks', 'log-webhook']);
    webhooks = queues.get('webhooks');
  });

  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
    for (const queue of queues.list()) await queue.obliterate({ force: true });
    await queues.close();
    await ctx.redis.quit();
  });

  const configure = async (overrides: Partial<LogWebhookInput> = {}) => {
    receiver ??= await startReceiver();
    const input: LogWebhookInput = {
      enabled: true,
      url: receiver.url,
      secret: WEBHOOK_SECRET,
      error_count_threshold: 5,
      window_seconds: 300,
      status_code_threshold: 500,
      error_message_match: null,
      error_message_match_type: 'substring',
      cooldown_seconds: 600,
      ...overrides,
    };
    await updateLogWebhook({ knex: testEnv().knex, nudge: async () => {} }, { actor: { type: 'admin', id: 'test' } }, ctx.secretBox, input);
  };
  const detect = () => processLogWebhook(jobOf({ reason: 'tick' }), ctx) as Promise<DetectorResult>;
  const queued = async () => (await webhooks.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter((j) => j !== undefined);
  const deliver = (data: unknown, attemptsMade = 0) => processWebhook(jobOf(data, attemptsMade), ctx);

  describe('detector', () => {
    it('fires once when the threshold is crossed: one webhooks job with the count, threshold, window and a sample without bodies', async () => {
      await configure();
      await seedLogs(now, [
        { status: 502, secondsAgo: 10, n: 12 },
        { status: 200, secondsAgo: 5, n: 20 },
        { status: 404, secondsAgo: 5, n: 5, message: 'not found' },
        // Outside the window: never counted.
        { status: 502, secondsAgo: 900, n: 50 },
      ]);
      const result = await detect();
      expect(result).to.include({ fired: true, count: 12 });

      const jobs = await queued();
      expect(jobs).to.have.length(1);
      const job = jobs[0]!;
      const payload = job.data as WebhooksPayload;
      expect(job.id).to.equal(webhookJobId(payload));
      expect(payload.target).to.deep.equal({ kind: 'log_webhook' });
      expect(payload.event.type).to.equal('log_webhook.threshold_exceeded');
      expect(payload.event.id).to.match(/^msg_[A-Za-z0-9_-]{27}$/);
      const data = payload.event.data as Record<string, unknown> & { sample: Array<Record<string, unknown>> };
      expect(data).to.include({ count: 12, count_capped: false, threshold: 5, window_seconds: 300, status_code_threshold: 500, cooldown_seconds: 600 });
      expect(data.window_end).to.equal(now.toISOString());
      expect(data.window_start).to.equal(new Date(now.getTime() - 300_000).toISOString());
      expect(data.sample).to.have.length(10);
      expect(Object.keys(data.sample[0]!).sort()).to.deep.equal(
        ['created_at', 'error_code', 'error_message', 'key_id', 'master_id', 'model', 'request_id', 'status_code'].sort(),
      );
      expect(data.sample[0]).to.include({ status_code: 502, error_message: 'upstream timed out', model: 'gpt-4o', master_id: 7, key_id: 42 });
      // The job carries neither bodies, client addresses nor secrets.
      const json = JSON.stringify(job.data);
      expect(json).not.to.contain(BODY_MARKER);
      expect(json).not.to.contain('203.0.113.9');
      expect(json).not.to.contain('MfKQ9r8');
      expect(json).not.to.contain('token=abc');

      const state = await getLogWebhook(testEnv().knex);
      expect(state.last_fired_at).to.equal(now.toISOString());
      expect(state.last_event_id).to.equal(payload.event.id);
    });

    it('does not fire again inside the cooldown, and fires again (new event id) after it', async () => {
      await configure();
      await seedLogs(now, [{ status: 500, secondsAgo: 1, n: 6 }]);
      const first = await detect();
      expect(first.fired).to.equal(true);

      now = new Date(now.getTime() + 30_000);
      await seedLogs(now, [{ status: 500, secondsAgo: 1, n: 20 }]);
      expect(await detect()).to.deep.equal({ fired: false, reason: 'cooldown' });
      now = new Date(now.getTime() + 500_000);
      expect(await detect()).to.deep.equal({ fired: false, reason: 'cooldown' });
      expect(await queued()).to.have.length(1);

      // 600 s after the first firing, with errors still in the window.
      now = new Date(now.getTime() + 70_000);
      await seedLogs(now, [{ status: 503, secondsAgo: 1, n: 5 }]);
      const second = await detect();
      expect(second.fired).to.equal(true);
      const jobs = await queued();
      expect(jobs).to.have.length(2);
      const ids = jobs.map((j) => (j.data as WebhooksPayload).event.id);
      expect(new Set(ids).size).to.equal(2);
    });

    it('never fires for a quiet window, below the threshold, or for errors that do not count', async () => {
      await configure({ error_count_threshold: 3 });
      expect(await detect()).to.deep.equal({ fired: false, reason: 'below_threshold', count: 0 });
      await seedLogs(now, [
        { status: 200, secondsAgo: 1, n: 50 },
        { status: 499, secondsAgo: 1, n: 10 },
        { status: 0, secondsAgo: 1, n: 10 },
        { status: 500, secondsAgo: 400, n: 10 },
        { status: 500, secondsAgo: 1, n: 2 },
      ]);
      expect(await detect()).to.deep.equal({ fired: false, reason: 'below_threshold', count: 2 });
      expect(await queued()).to.have.length(0);
      expect((await getLogWebhook(testEnv().knex)).last_fired_at).to.equal(null);
    });

    it('does nothing when disabled or not configured', async () => {
      expect(await detect()).to.deep.equal({ fired: false, reason: 'not_configured' });
      await configure({ enabled: false });
      await seedLogs(now, [{ status: 500, secondsAgo: 1, n: 50 }]);
      expect(await detect()).to.deep.equal({ fired: false, reason: 'disabled' });
      expect(await queued()).to.have.length(0);
    });

    it('applies the status threshold and a substring or regex message match', async () => {
      await seedLogs(now, [
        { status: 429, secondsAgo: 1, n: 4, message: 'Rate limit exceeded' },
        { status: 502, secondsAgo: 1, n: 2, message: 'Upstream 502 from provider' },
        { status: 500, secondsAgo: 1, n: 3, message: 'something else' },
      ]);
      await configure({ status_code_threshold: 429, error_count_threshold: 4, error_message_match: 'RATE LIMIT' });
      expect(await runLogWebhookDetector({ knex: ctx.knex, now: ctx.now, enqueue: async () => {} })).to.include({ fired: true, count: 4 });

      await resetDatabase();
      await seedLogs(now, [
        { status: 429, secondsAgo: 1, n: 4, message: 'Rate limit exceeded' },
        { status: 502, secondsAgo: 1, n: 2, message: 'Upstream 502 from provider' },
        { status: 503, secondsAgo: 1, n: 1, message: 'upstream 503' },
      ]);
      await configure({ status_code_threshold: 500, error_count_threshold: 3, error_message_match: '^upstream 5\\d\\d', error_message_match_type: 'regex' });
      const sent: WebhooksPayload[] = [];
      const result = await runLogWebhookDetector({ knex: ctx.knex, now: ctx.now, enqueue: async (d) => void sent.push(d) });
      expect(result).to.include({ fired: true, count: 3 });
      expect((sent[0]!.event.data.sample as Array<{ status_code: number }>).map((s) => s.status_code).sort()).to.deep.equal([502, 502, 503]);
    });

    it('records nothing when the enqueue fails, so the next tick fires', async () => {
      await configure();
      await seedLogs(now, [{ status: 500, secondsAgo: 1, n: 6 }]);
      const failing = runLogWebhookDetector({ knex: ctx.knex, now: ctx.now, enqueue: () => Promise.reject(new Error('redis down')) });
      await failing.then(
        () => expect.fail('should have thrown'),
        (err: Error) => expect(err.message).to.equal('redis down'),
      );
      expect((await getLogWebhook(testEnv().knex)).last_fired_at).to.equal(null);
      expect((await detect()).fired).to.equal(true);
      expect(await queued()).to.have.length(1);
    });
  });

  describe('delivery', () => {
    const fireOne = async () => {
      await seedLogs(now, [{ status: 500, secondsAgo: 1, n: 5 }]);
      expect((await detect()).fired).to.equal(true);
      const [job] = await queued();
      return job!.data as WebhooksPayload;
    };

    it('POSTs {type, timestamp, data} signed with Standard Webhooks headers; a 2xx is recorded', async () => {
      receiver = await startReceiver([204]);
      await configure();
      const payload = await fireOne();
      now = new Date();
      const result = await deliver(payload);
      expect(result).to.include({ outcome: 'delivered', status_code: 204 });

      expect(receiver.requests).to.have.length(1);
      const [request] = receiver.requests;
      expect(verified(request!)).to.deep.equal({ ok: true });
      expect(request!.headers['webhook-id']).to.equal(payload.event.id);
      expect(request!.headers['content-type']).to.equal('application/json');
      const body = JSON.parse(request!.body) as { type: string; timestamp: string; data: { count: number; sample: unknown[] } };
      expect(Object.keys(body)).to.deep.equal(['type', 'timestamp', 'data']);
      expect(body.type).to.equal('log_webhook.threshold_exceeded');
      expect(body.data.count).to.equal(5);
      expect(body.data.sample).to.have.length(5);
      expect(request!.body).not.to.contain(BODY_MARKER);

      const rows = await deliveries();
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({ target: 'log_webhook', webhook_id: null, event_id: payload.event.id, event_type: 'log_webhook.threshold_exceeded', attempt: 1, status_code: 204, error: null });
      expect(rows[0]!.duration_ms).to.be.a('number').and.at.least(0);
    });

    it('a 500 is retried (transient) with the same webhook-id and a fresh signature; the 200 that follows is recorded', async () => {
      receiver = await startReceiver([500, 200]);
      await configure();
      const payload = await fireOne();
      now = new Date();
      const firstAttempt = deliver(payload, 0);
      await firstAttempt.then(
        () => expect.fail('a 500 must fail the attempt'),
        (err: Error) => {
          expect(err).not.to.be.instanceOf(UnrecoverableError);
          expect(err.message).to.contain('HTTP 500');
        },
      );
      now = new Date(now.getTime() + 1_000);
      expect(await deliver(payload, 1)).to.include({ outcome: 'delivered', status_code: 200 });

      expect(receiver.requests).to.have.length(2);
      expect(receiver.requests.map((r) => r.headers['webhook-id'])).to.deep.equal([payload.event.id, payload.event.id]);
      expect(receiver.requests.every((r) => verified(r).ok)).to.equal(true);
      expect(receiver.requests[0]!.body).to.equal(receiver.requests[1]!.body);
      expect(receiver.requests[0]!.headers['webhook-timestamp']).not.to.equal(receiver.requests[1]!.headers['webhook-timestamp']);
      const rows = await deliveries();
      expect(rows.map((r) => [r.attempt, r.status_code, r.error?.slice(0, 8) ?? null])).to.deep.equal([
        [1, 500, 'HTTP 500'],
        [2, 200, null],
      ]);
    });

    it('410 Gone disables the log webhook and fails permanently; later deliveries are skipped', async () => {
      receiver = await startReceiver([410]);
      await configure();
      const payload = await fireOne();
      const attempt = deliver(payload);
      await attempt.then(
        () => expect.fail('a 410 must fail the job'),
        (err: Error) => expect(err).to.be.instanceOf(UnrecoverableError),
      );
      const state = await getLogWebhook(testEnv().knex);
      expect(state.enabled).to.equal(false);
      expect(state.disabled_reason).to.match(/410 Gone/);
      const audit = (await testEnv().knex('audit_events').where('action', 'log_webhook.disable').select('actor_type', 'actor_id')) as unknown[];
      expect(audit).to.deep.equal([{ actor_type: 'system', actor_id: 'webhooks' }]);
      expect((await deliveries()).map((r) => r.status_code)).to.deep.equal([410]);

      expect(await deliver(payload, 1)).to.deep.equal({ outcome: 'skipped', reason: 'disabled' });
      expect(receiver.requests).to.have.length(1);
      // The detector stays quiet while disabled.
      now = new Date(now.getTime() + 3_600_000);
      await seedLogs(now, [{ status: 500, secondsAgo: 1, n: 10 }]);
      expect(await detect()).to.deep.equal({ fired: false, reason: 'disabled' });
    });

    it('other 4xx fail permanently without disabling; 408 and 429 are retried', async () => {
      receiver = await startReceiver([404, 429, 408]);
      await configure();
      const payload = await fireOne();
      await deliver(payload).then(
        () => expect.fail('404'),
        (err: Error) => expect(err).to.be.instanceOf(UnrecoverableError),
      );
      for (const status of [429, 408]) {
        await deliver(payload, 1).then(
          () => expect.fail(String(status)),
          (err: Error) => {
            expect(err).not.to.be.instanceOf(UnrecoverableError);
            expect(err.message).to.contain(`HTTP ${status}`);
          },
        );
      }
      expect((await getLogWebhook(testEnv().knex)).enabled).to.equal(true);
    });

    describe('to a webhooks row', () => {
      const insertWebhook = async (url: string): Promise<number> => {
        const knex = testEnv().knex;
        const [row] = (await knex('webhooks').insert({ url, secret_ciphertext: Buffer.alloc(1), secret_nonce: Buffer.alloc(1) }).returning('id')) as Array<{ id: number }>;
        const sealed = ctx.secretBox.seal(WEBHOOK_SECRET, SecretBox.aad('webhooks', row!.id, 'secret'));
        await knex('webhooks').where('id', row!.id).update({ secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion });
        return row!.id;
      };
      const event = { id: 'msg_alert_1', type: 'alert.created', data: { alert_id: 1 } };

      it('delivers signed, records webhook_id, and a 410 sets the row disabled', async () => {
        receiver = await startReceiver([200, 410]);
        const id = await insertWebhook(receiver.url);
        const payload = webhooksQueue.payload.parse({ target: { kind: 'webhook', id }, event });
        expect(webhookJobId(payload)).to.equal(`webhook-${id}-msg_alert_1`);
        now = new Date();
        expect(await deliver(payload)).to.include({ outcome: 'delivered', status_code: 200 });
        expect(verified(receiver.requests[0]!)).to.deep.equal({ ok: true });
        await deliver({ target: { kind: 'webhook', id }, event: { ...event, id: 'msg_alert_2' } }).then(
          () => expect.fail('410'),
          (err: Error) => expect(err).to.be.instanceOf(UnrecoverableError),
        );
        const row = (await testEnv().knex('webhooks').where({ id }).first()) as { status: string; disabled_reason: string };
        expect(row.status).to.equal('disabled');
        expect(row.disabled_reason).to.match(/410 Gone/);
        expect((await deliveries()).map((r) => [r.target, r.webhook_id, r.status_code])).to.deep.equal([
          ['webhook', id, 200],
          ['webhook', id, 410],
        ]);
        expect(await deliver(payload, 1)).to.deep.equal({ outcome: 'skipped', reason: 'disabled' });
        expect(await deliver({ target: { kind: 'webhook', id: id + 1000 }, event })).to.deep.equal({ outcome: 'skipped', reason: 'deleted' });
      });

      it('refuses to connect to a metadata address (permanent, recorded, nothing sent)', async () => {
        const id = await insertWebhook('http://169.254.169.254/latest/meta-data/');
        await deliver({ target: { kind: 'webhook', id }, event }).then(
          () => expect.fail('metadata'),
          (err: Error) => expect(err).to.be.instanceOf(UnrecoverableError),
        );
        const [row] = await deliveries();
        expect(row).to.include({ status_code: null, attempt: 1 });
        expect(row!.error).to.match(/metadata/);
      });

      it('a refused connection is transient and recorded without a status', async () => {
        const closed = await startReceiver();
        const url = closed.url;
        await closed.close();
        const id = await insertWebhook(url);
        await deliver({ target: { kind: 'webhook', id }, event }).then(
          () => expect.fail('closed port'),
          (err: Error) => expect(err).not.to.be.instanceOf(UnrecoverableError),
        );
        const [row] = await deliveries();
        expect(row).to.include({ status_code: null });
        expect(row!.error).to.match(/ECONNREFUSED/);
      });
    });

    it('a payload that does not parse fails permanently', async () => {
      await processWebhook(jobOf({ target: { kind: 'nope' }, event: {} }), ctx).then(
        () => expect.fail('bad payload'),
        (err: Error) => expect(err).to.be.instanceOf(UnrecoverableError),
      );
    });
  });
});
