import { expect } from 'chai';
import { webhookJobId, type WebhooksPayload } from '../../jobs/webhooks/definition.js';
import { insertDeliveryAttempt } from '../../src/db/webhook-deliveries.repository.js';
import type { WebhookDto } from '../../src/domain/webhooks.service.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { testEnv } from '../support/hooks.js';
import { EZ_SECRET, expectError, expectFieldError, useTestApi, type ErrorJson } from './helpers.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const URL_WITH_TOKEN = 'https://hooks.example.com/ez/T0KEN?sig=abc';

type Row = { id: number; secret_ciphertext: Buffer; secret_nonce: Buffer; key_version: number; status: string; disabled_reason: string | null };
const rowOf = async (id: number) => (await testEnv().knex('webhooks').where({ id }).first()) as Row;
const opened = (row: Row) => new SecretBox(EZ_SECRET).open({ ciphertext: row.secret_ciphertext, nonce: row.secret_nonce, keyVersion: row.key_version }, `webhooks:${row.id}:secret`);
const audit = async () =>
  (await testEnv().knex('audit_events').orderBy('id').select('action', 'object_type', 'object_id', 'metadata')) as Array<{
    action: string;
    object_type: string;
    object_id: string;
    metadata: Record<string, unknown>;
  }>;

describe('/admin/webhooks', function () {
  const api = useTestApi<ErrorJson>('webhooks-test');
  const { call, req } = api;
  const create = (body: unknown) => call<WebhookDto>('POST', '/admin/webhooks', body);

  it('POST creates a webhook and shows the whole secret once; GET and the list show it masked', async function () {
    const res = await create({ url: URL_WITH_TOKEN, description: 'ops', events: ['alert.*', 'quota.exhausted'], secret: SECRET });
    expect(res.status, res.text).to.equal(201);
    expect(res.body).to.include({ url: URL_WITH_TOKEN, description: 'ops', status: 'active', disabled_reason: null, secret: SECRET });
    expect(res.body.events).to.deep.equal(['alert.*', 'quota.exhausted']);
    const id = res.body.id;

    const got = await call<WebhookDto>('GET', `/admin/webhooks/${id}`);
    expect(got.status).to.equal(200);
    expect(got.body.secret).to.equal('whsec_…LaSw');
    expect(got.text).not.to.contain('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const list = await call<{ data: WebhookDto[]; pagination: { total: number } }>('GET', '/admin/webhooks');
    expect(list.body.pagination.total).to.equal(1);
    expect(list.body.data.map((w) => [w.id, w.secret])).to.deep.equal([[id, 'whsec_…LaSw']]);
    expect(list.text).not.to.contain('MfKQ9r8');

    // Sealed under the AAD the delivery worker opens it with.
    const row = await rowOf(id);
    expect(row.secret_ciphertext.toString('latin1')).not.to.contain('MfKQ9r8');
    expect(opened(row)).to.equal(SECRET);

    const [event] = await audit();
    expect(event).to.deep.include({ action: 'webhook.create', object_type: 'webhook', object_id: String(id) });
    expect(event!.metadata).to.deep.include({ url_origin: 'https://hooks.example.com', secret_generated: false });
    expect(JSON.stringify(event!.metadata)).not.to.match(/MfKQ9|T0KEN|sig=abc/);
  });

  it('POST without a secret generates a whsec_ secret of 32 bytes; events default to [] (all)', async function () {
    const res = await create({ url: 'http://127.0.0.1:9/hook' });
    expect(res.status, res.text).to.equal(201);
    expect(res.body.secret).to.match(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(res.body.secret.slice(6), 'base64')).to.have.length(32);
    expect(res.body.events).to.deep.equal([]);
    expect(res.body.description).to.equal('');
    expect(opened(await rowOf(res.body.id))).to.equal(res.body.secret);
  });

  it('rotate-secret replaces the secret, shows the new one once, and audits without it', async function () {
    const { body: created } = await create({ url: 'https://hooks.example.com/a', secret: SECRET });
    const rotated = await call<WebhookDto>('POST', `/admin/webhooks/${created.id}/rotate-secret`);
    expect(rotated.status, rotated.text).to.equal(200);
    expect(rotated.body.secret).to.match(/^whsec_/).and.not.equal(SECRET);
    expect(opened(await rowOf(created.id))).to.equal(rotated.body.secret);
    expect((await call<WebhookDto>('GET', `/admin/webhooks/${created.id}`)).body.secret).to.equal(`whsec_…${rotated.body.secret.slice(-4)}`);

    const given = 'whsec_' + Buffer.alloc(24, 7).toString('base64');
    const set = await call<WebhookDto>('POST', `/admin/webhooks/${created.id}/rotate-secret`, { secret: given });
    expect(set.body.secret).to.equal(given);
    const events = (await audit()).filter((e) => e.action === 'webhook.rotate_secret');
    expect(events.map((e) => e.metadata.secret_generated)).to.deep.equal([true, false]);
    expect(JSON.stringify(events)).not.to.contain(rotated.body.secret.slice(6, 20));

    expectFieldError(await call('POST', `/admin/webhooks/${created.id}/rotate-secret`, { secret: 'not-a-whsec-secret-at-all' }), 'body.secret');
    expectError(await call('POST', '/admin/webhooks/999/rotate-secret'), 404, 'not_found');
  });

  it('PATCH changes url, description, events and status; re-enabling clears disabled_reason', async function () {
    const { body: created } = await create({ url: 'https://hooks.example.com/a', events: ['alert.created'] });
    const patched = await call<WebhookDto>('PATCH', `/admin/webhooks/${created.id}`, { url: 'https://other.example.com/b', description: 'new', events: [] });
    expect(patched.status, patched.text).to.equal(200);
    expect(patched.body).to.include({ url: 'https://other.example.com/b', description: 'new', status: 'active' });
    expect(patched.body.events).to.deep.equal([]);
    expect(patched.body.secret).to.equal(`whsec_…${created.secret.slice(-4)}`);

    // As the delivery worker does after a 410.
    await testEnv().knex('webhooks').where('id', created.id).update({ status: 'disabled', disabled_reason: 'the receiver answered 410 Gone' });
    expect((await call<WebhookDto>('GET', `/admin/webhooks/${created.id}`)).body).to.include({ status: 'disabled', disabled_reason: 'the receiver answered 410 Gone' });
    const enabled = await call<WebhookDto>('PATCH', `/admin/webhooks/${created.id}`, { status: 'active' });
    expect(enabled.body).to.include({ status: 'active', disabled_reason: null });

    const disabled = await call<WebhookDto>('PATCH', `/admin/webhooks/${created.id}`, { status: 'disabled' });
    expect(disabled.body.status).to.equal('disabled');
    expect((await call<{ data: WebhookDto[] }>('GET', '/admin/webhooks?status=active')).body.data).to.have.length(0);
    expect((await call<{ data: WebhookDto[] }>('GET', '/admin/webhooks?status=disabled')).body.data).to.have.length(1);

    const updates = (await audit()).filter((e) => e.action === 'webhook.update');
    expect(updates).to.have.length(3);
    expect(updates[0]!.metadata).to.deep.include({ changed: ['url', 'description', 'events'], url_origin: 'https://other.example.com' });
    expectError(await call('PATCH', '/admin/webhooks/999', { description: 'x' }), 404, 'not_found');
  });

  it('DELETE removes the webhook and its deliveries', async function () {
    const { body: created } = await create({ url: 'https://hooks.example.com/a' });
    await insertDeliveryAttempt(testEnv().knex, {
      target: 'webhook', webhook_id: created.id, event_id: 'msg_1', event_type: 'alert.created', attempt: 1, status_code: 200, error: null, duration_ms: 3,
    });
    const res = await call('DELETE', `/admin/webhooks/${created.id}`);
    expect(res.status).to.equal(204);
    expectError(await call('GET', `/admin/webhooks/${created.id}`), 404, 'not_found');
    expect(await testEnv().knex('webhook_deliveries').count({ n: '*' }).first()).to.deep.equal({ n: 0 });
    expectError(await call('DELETE', `/admin/webhooks/${created.id}`), 404, 'not_found');
    expect((await audit()).map((e) => e.action)).to.deep.equal(['webhook.create', 'webhook.delete']);
  });

  it('refuses cloud metadata URLs in any form with a 400 naming the url; loopback is allowed', async function () {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/latest/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://METADATA.google.internal./x',
    ]) {
      expectFieldError(await create({ url }), 'body.url');
    }
    const { body: created } = await create({ url: 'http://127.0.0.1:8080/ok' });
    expectFieldError(await call('PATCH', `/admin/webhooks/${created.id}`, { url: 'http://169.254.169.254/' }), 'body.url');
    expect(await testEnv().knex('webhooks').count({ n: '*' }).first()).to.deep.equal({ n: 1 });
  });

  it('refuses bad URLs, events and secrets with a 400 naming the field', async function () {
    expectFieldError(await create({ url: 'ftp://hooks.example.com/x' }), 'body.url');
    expectFieldError(await create({ url: 'https://user:pw@hooks.example.com/x' }), 'body.url');
    expectFieldError(await create({}), 'body.url');
    expectFieldError(await create({ url: 'https://hooks.example.com/x', events: ['Alert.Created'] }), 'body.events.0');
    expectFieldError(await create({ url: 'https://hooks.example.com/x', events: ['alert.created', '*'] }), 'body.events.1');
    expectFieldError(await create({ url: 'https://hooks.example.com/x', events: ['alert.**'] }), 'body.events.0');
    expectFieldError(await create({ url: 'https://hooks.example.com/x', events: 'alert.created' }), 'body.events');
    expectFieldError(await create({ url: 'https://hooks.example.com/x', secret: 'raw-secret-of-enough-length' }), 'body.secret');
    expectFieldError(await create({ url: 'https://hooks.example.com/x', secret: 'whsec_c2hvcnQ=' }), 'body.secret');
    expectFieldError(await create({ url: 'https://hooks.example.com/x', extra: 1 }), 'body');
    expectFieldError(await call('PATCH', '/admin/webhooks/1', { status: 'paused' }), 'body.status');
    expectFieldError(await call('GET', '/admin/webhooks/abc'), 'params.id');
    expect(await testEnv().knex('webhooks').count({ n: '*' }).first()).to.deep.equal({ n: 0 });
    // Duplicates are folded.
    const res = await create({ url: 'https://hooks.example.com/x', events: ['alert.*', 'alert.*'] });
    expect(res.body.events).to.deep.equal(['alert.*']);
  });

  it('every route needs the admin token', async function () {
    const { body: created } = await create({ url: 'https://hooks.example.com/a' });
    for (const [method, path] of [
      ['GET', '/admin/webhooks'],
      ['POST', '/admin/webhooks'],
      ['GET', `/admin/webhooks/${created.id}`],
      ['PATCH', `/admin/webhooks/${created.id}`],
      ['DELETE', `/admin/webhooks/${created.id}`],
      ['POST', `/admin/webhooks/${created.id}/rotate-secret`],
      ['POST', `/admin/webhooks/${created.id}/test`],
      ['GET', `/admin/webhooks/${created.id}/deliveries`],
    ] as const) {
      expectError(await req(method, path, { token: null }), 401, 'unauthorized');
      expectError(await req(method, path, { token: 'ezadm_wrong-token-0123456789' }), 401, 'unauthorized');
    }
    expect((await rowOf(created.id)).status).to.equal('active');
  });

  it('POST /:id/test enqueues one webhook.test ping to that webhook; 409 while disabled', async function () {
    const { body: created } = await create({ url: 'https://hooks.example.com/a', events: ['alert.created'] });
    const res = await call<{ event_id: string; type: string }>('POST', `/admin/webhooks/${created.id}/test`);
    expect(res.status, res.text).to.equal(202);
    expect(res.body.type).to.equal('webhook.test');
    const queue = api.deps.queues.get('webhooks');
    const jobs = await queue.getJobs(['waiting', 'delayed', 'active', 'prioritized']);
    expect(jobs).to.have.length(1);
    const payload = jobs[0]!.data as WebhooksPayload;
    expect(payload.target).to.deep.equal({ kind: 'webhook', id: created.id });
    expect(payload.event).to.include({ id: res.body.event_id, type: 'webhook.test' });
    expect(jobs[0]!.id).to.equal(webhookJobId(payload));
    expect(JSON.stringify(payload)).not.to.contain(created.secret.slice(6));
    expect((await audit()).map((e) => e.action)).to.include('webhook.test');

    await call('PATCH', `/admin/webhooks/${created.id}`, { status: 'disabled' });
    expectError(await call('POST', `/admin/webhooks/${created.id}/test`), 409, 'conflict');
    expectError(await call('POST', '/admin/webhooks/999/test'), 404, 'not_found');
    await queue.obliterate({ force: true });
  });

  it('GET /:id/deliveries lists attempts newest first with a cursor', async function () {
    const { body: created } = await create({ url: 'https://hooks.example.com/a' });
    const { body: other } = await create({ url: 'https://hooks.example.com/b' });
    const knex = testEnv().knex;
    for (let attempt = 1; attempt <= 3; attempt++) {
      await insertDeliveryAttempt(knex, {
        target: 'webhook', webhook_id: created.id, event_id: 'msg_a', event_type: 'alert.created', attempt,
        status_code: attempt < 3 ? 500 : 200, error: attempt < 3 ? 'HTTP 500' : null, duration_ms: attempt,
      });
    }
    await insertDeliveryAttempt(knex, { target: 'webhook', webhook_id: other.id, event_id: 'msg_b', event_type: 'x.y', attempt: 1, status_code: 200, error: null, duration_ms: 1 });
    type Deliveries = { data: Array<{ event_id: string; attempt: number; status_code: number | null; error: string | null; duration_ms: number; created_at: string }>; next_before: number | null };
    const first = await call<Deliveries>('GET', `/admin/webhooks/${created.id}/deliveries?limit=2`);
    expect(first.status, first.text).to.equal(200);
    expect(first.body.data.map((d) => [d.event_id, d.attempt, d.status_code, d.error])).to.deep.equal([
      ['msg_a', 3, 200, null],
      ['msg_a', 2, 500, 'HTTP 500'],
    ]);
    expect(first.body.data[0]).to.have.keys('id', 'event_id', 'event_type', 'attempt', 'status_code', 'error', 'duration_ms', 'created_at');
    expect(first.body.next_before).to.be.a('number');
    const second = await call<Deliveries>('GET', `/admin/webhooks/${created.id}/deliveries?limit=2&before=${first.body.next_before}`);
    expect(second.body.data.map((d) => d.attempt)).to.deep.equal([1]);
    expect(second.body.next_before).to.equal(null);
    expectError(await call('GET', '/admin/webhooks/999/deliveries'), 404, 'not_found');
    expectFieldError(await call('GET', `/admin/webhooks/${created.id}/deliveries?limit=0`), 'query.limit');
  });
});
