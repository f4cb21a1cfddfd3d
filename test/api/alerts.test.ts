import { expect } from 'chai';
import type { AlertDto } from '../../src/domain/alerts/dto.js';
import type { ThresholdsDto } from '../../src/domain/alerts/alerts.service.js';
import { DEFAULT_THRESHOLDS } from '../../src/domain/alerts/thresholds.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { testEnv } from '../support/hooks.js';
import { ADMIN_TOKEN, basic, EZ_SECRET, expectError, expectFieldError, send, useTestApi, type ErrorJson } from './helpers.js';

const INTERNAL_TOKEN = 'ezint_test-internal-token-0123456789';
const internal = (token = INTERNAL_TOKEN) => ({ 'X-Internal-Token': token });

interface ReportReply {
  outcome: 'created' | 'deduplicated' | 'suppressed';
  created: boolean;
  alert: AlertDto;
}

describe('/admin/alerts', function () {
  this.timeout(20_000);
  const api = useTestApi<ErrorJson>('alerts-test');
  const { call, req } = api;
  const knex = () => testEnv().knex;

  const create = (body: Record<string, unknown>) => call<AlertDto>('POST', '/admin/alerts', body);
  const report = (body: Record<string, unknown>, headers: Record<string, string> = internal()) => send<ReportReply>(api.url, 'POST', '/internal/alerts/report', body, headers);
  const list = (query = '') => call<{ data: AlertDto[]; next_cursor: number | null }>('GET', `/admin/alerts${query}`);
  const act = (id: number, action: string) => call<AlertDto>('POST', `/admin/alerts/${id}/${action}`);
  const REPORT = { alert_type: 'provider_down', severity: 'critical', title: 'Upstream down', message: 'openai#7 failing', fingerprint: 'provider_down:api_key:7', related_type: 'api_key', related_id: '7' };

  async function insertWebhook(events: string[] = []): Promise<number> {
    const [row] = (await knex()('webhooks').insert({ url: 'http://127.0.0.1:9/hook', events, secret_ciphertext: Buffer.alloc(1), secret_nonce: Buffer.alloc(1) }).returning('id')) as Array<{ id: number }>;
    const sealed = new SecretBox(EZ_SECRET).seal('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', SecretBox.aad('webhooks', row!.id, 'secret'));
    await knex()('webhooks').where('id', row!.id).update({ secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion });
    return row!.id;
  }
  const webhookJob = (hook: number, eventId: string) => api.deps.queues.get('webhooks').getJob(`webhook-${hook}-${eventId}`);
  /** Moves an alert's clock back, as if minutes had passed. */
  const age = (id: number, columns: Record<string, Date>) => knex()('alerts').where('id', id).update(columns);
  const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);

  describe('auth', function () {
    it('admin routes refuse missing or wrong credentials (401) and cross-site Basic writes (403)', async function () {
      for (const [method, path] of [['GET', '/admin/alerts'], ['GET', '/admin/alerts/stats'], ['GET', '/admin/alerts/thresholds'], ['POST', '/admin/alerts/1/ack']] as const) {
        expectError(await req(method, path, { token: null }), 401, 'unauthorized');
        expectError(await req(method, path, { token: 'wrong-token-wrong-token' }), 401, 'unauthorized');
      }
      const res = await send<ErrorJson>(api.url, 'POST', '/admin/alerts', { type: 'x', title: 't' }, { ...basic('a', ADMIN_TOKEN), Origin: 'https://evil.example' });
      expectError(res, 403, 'forbidden');
      expect(await knex()('alerts').count<Array<{ count: number }>>('* as count')).to.deep.equal([{ count: 0 }]);
    });

    it('the internal report wants the internal token, not the admin one', async function () {
      expectError(await report(REPORT, {}), 401, 'unauthorized');
      expectError(await report(REPORT, internal('wrong')), 401, 'unauthorized');
      expectError(await report(REPORT, { Authorization: `Bearer ${ADMIN_TOKEN}` }), 401, 'unauthorized');
    });
  });

  describe('create, get, list', function () {
    it('POST creates a manual alert (201), audited and announced as alert.created', async function () {
      const hook = await insertWebhook(['alert.created']);
      const res = await create({ type: 'maintenance', severity: 'info', title: 'DB upgrade tonight', related_type: 'master', related_id: '3', metadata: { window: '22:00' } });
      expect(res.status, res.text).to.equal(201);
      expect(res.body).to.include({ type: 'maintenance', severity: 'info', status: 'active', title: 'DB upgrade tonight', message: '', fingerprint: null, count: 1, related_type: 'master', related_id: '3' });
      expect(res.body.metadata).to.deep.equal({ window: '22:00', source: 'admin' });
      const audit = await knex()('audit_events').where({ action: 'alert.create' }).select('actor_type', 'actor_id', 'object_id');
      expect(audit).to.deep.equal([{ actor_type: 'admin', actor_id: 'bootstrap', object_id: String(res.body.id) }]);
      const job = await webhookJob(hook, `alert-${res.body.id}-created`);
      expect(job?.data.event).to.deep.include({ type: 'alert.created', id: `alert-${res.body.id}-created` });
      expect((job?.data.event.data as { alert: AlertDto }).alert.id).to.equal(res.body.id);

      const got = await call<AlertDto>('GET', `/admin/alerts/${res.body.id}`);
      expect(got.status).to.equal(200);
      expect(got.body).to.deep.equal(res.body);
    });

    it('without a fingerprint every POST is new; with one, an open alert absorbs it (200, count grows)', async function () {
      expect((await create({ type: 'manual', title: 'a' })).status).to.equal(201);
      expect((await create({ type: 'manual', title: 'a' })).status).to.equal(201);
      const first = await create({ type: 'manual', title: 'b', fingerprint: 'manual:b' });
      const second = await create({ type: 'manual', title: 'b again', fingerprint: 'manual:b', severity: 'critical' });
      expect(first.status).to.equal(201);
      expect(second.status).to.equal(200);
      expect(second.body).to.include({ id: first.body.id, count: 2, title: 'b again', severity: 'critical' });
      expect(await knex()('alerts').count<Array<{ count: number }>>('* as count')).to.deep.equal([{ count: 3 }]);
    });

    it('GET of an unknown alert is 404; a bad id or body is a 400 naming the field', async function () {
      expectError(await call('GET', '/admin/alerts/999'), 404, 'not_found');
      expectFieldError(await call('GET', '/admin/alerts/abc'), 'params.id');
      expectFieldError(await create({ title: 't' }), 'body.type');
      expectFieldError(await create({ type: 'Bad Type', title: 't' }), 'body.type');
      expectFieldError(await create({ type: 'x', title: '', severity: 'huge' }), 'body.severity');
      expectFieldError(await create({ type: 'x', title: 't', colour: 'red' }), 'body');
      expectFieldError(await create({ type: 'x', title: 't', metadata: { nested: { a: 1 } } }), 'body.metadata.nested');
    });

    it('lists newest first with filters and cursor pagination', async function () {
      const a = (await create({ type: 'error_spike', severity: 'warning', title: 'a', related_type: 'key', related_id: '1' })).body;
      const b = (await create({ type: 'error_spike', severity: 'critical', title: 'b', related_type: 'key', related_id: '2' })).body;
      const c = (await create({ type: 'traffic_spike', severity: 'info', title: 'c', related_type: 'master', related_id: '1' })).body;
      await act(b.id, 'ack');
      await age(a.id, { last_seen_at: minutesAgo(120) });

      expect((await list()).body.data.map((x) => x.id)).to.deep.equal([c.id, b.id, a.id]);
      expect((await list('?status=active')).body.data.map((x) => x.id)).to.deep.equal([c.id, a.id]);
      expect((await list('?status=acknowledged,resolved')).body.data.map((x) => x.id)).to.deep.equal([b.id]);
      expect((await list('?severity=critical&severity=info')).body.data.map((x) => x.id)).to.deep.equal([c.id, b.id]);
      expect((await list('?type=error_spike')).body.data.map((x) => x.id)).to.deep.equal([b.id, a.id]);
      expect((await list('?related_type=key&related_id=2')).body.data.map((x) => x.id)).to.deep.equal([b.id]);
      const since = encodeURIComponent(minutesAgo(60).toISOString());
      expect((await list(`?since=${since}`)).body.data.map((x) => x.id)).to.deep.equal([c.id, b.id]);
      expect((await list(`?until=${since}`)).body.data.map((x) => x.id)).to.deep.equal([a.id]);

      const page1 = await list('?limit=2');
      expect(page1.body.data.map((x) => x.id)).to.deep.equal([c.id, b.id]);
      expect(page1.body.next_cursor).to.equal(b.id);
      const page2 = await list(`?limit=2&cursor=${page1.body.next_cursor}`);
      expect(page2.body.data.map((x) => x.id)).to.deep.equal([a.id]);
      expect(page2.body.next_cursor).to.equal(null);

      expectFieldError(await list('?status=open'), 'query.status.0');
      expectFieldError(await list('?severity=warning,loud'), 'query.severity.1');
      expectFieldError(await list('?limit=0'), 'query.limit');
      expectFieldError(await list('?since=yesterday'), 'query.since');
      expectFieldError(await list(`?since=${since}&until=${since}`), 'query.until');
      expectFieldError(await list('?colour=red'), 'query');
    });
  });

  describe('ack, resolve, dismiss', function () {
    it('records who and when, audits, announces a resolve; invalid transitions are 409', async function () {
      const hook = await insertWebhook(['alert.*']);
      const alert = (await create({ type: 'x', title: 't' })).body;

      const acked = await act(alert.id, 'ack');
      expect(acked.status, acked.text).to.equal(200);
      expect(acked.body).to.include({ status: 'acknowledged', acknowledged_by: 'admin:bootstrap' });
      expect(Date.parse(acked.body.acknowledged_at!)).to.be.closeTo(Date.now(), 60_000);
      const again = expectError(await act(alert.id, 'ack'), 409, 'invalid_transition');
      expect(again.message).to.include('already acknowledged');

      const resolved = await act(alert.id, 'resolve');
      expect(resolved.body).to.include({ status: 'resolved', resolved_by: 'admin:bootstrap', acknowledged_by: 'admin:bootstrap' });
      expect(resolved.body.resolved_at).to.be.a('string');
      expect((await webhookJob(hook, `alert-${alert.id}-resolved`))?.data.event.type).to.equal('alert.resolved');

      expect(expectError(await act(alert.id, 'dismiss'), 409, 'invalid_transition').message).to.include('resolved');
      expectError(await act(alert.id, 'ack'), 409, 'invalid_transition');
      expectError(await act(alert.id, 'resolve'), 409, 'invalid_transition');
      expectError(await act(999, 'resolve'), 404, 'not_found');
      expectFieldError(await act(0, 'resolve'), 'params.id');

      const other = (await create({ type: 'x', title: 'noise' })).body;
      const dismissed = await act(other.id, 'dismiss');
      expect(dismissed.body).to.include({ status: 'dismissed', dismissed_by: 'admin:bootstrap' });
      expectError(await act(other.id, 'resolve'), 409, 'invalid_transition');

      const actions = (await knex()('audit_events').orderBy('id').select('action')).map((r: { action: string }) => r.action);
      expect(actions).to.deep.equal(['alert.create', 'alert.acknowledge', 'alert.resolve', 'alert.create', 'alert.dismiss']);
    });
  });

  describe('stats', function () {
    it('counts by status, severity and type, optionally since a time', async function () {
      const a = (await create({ type: 'error_spike', severity: 'critical', title: 'a' })).body;
      const b = (await create({ type: 'error_spike', severity: 'warning', title: 'b' })).body;
      await create({ type: 'quota_exceeded', severity: 'warning', title: 'c' });
      await act(b.id, 'resolve');
      await age(a.id, { last_seen_at: minutesAgo(600) });

      const all = await call<Record<string, unknown>>('GET', '/admin/alerts/stats');
      expect(all.status).to.equal(200);
      expect(all.body).to.deep.equal({
        since: null,
        total: 3,
        open: 2,
        by_status: { active: 2, acknowledged: 0, resolved: 1, dismissed: 0 },
        by_severity: { info: 0, warning: 2, critical: 1 },
        open_by_severity: { info: 0, warning: 1, critical: 1 },
        by_type: { error_spike: 2, quota_exceeded: 1 },
      });
      const since = minutesAgo(60).toISOString();
      const recent = await call<Record<string, unknown>>('GET', `/admin/alerts/stats?since=${encodeURIComponent(since)}`);
      expect(recent.body).to.deep.include({ since, total: 2, open: 1 });
      expectFieldError(await call('GET', '/admin/alerts/stats?since=soon'), 'query.since');
    });
  });

  describe('thresholds', function () {
    const get = () => call<ThresholdsDto>('GET', '/admin/alerts/thresholds');
    const put = (body: unknown) => call<ThresholdsDto>('PUT', '/admin/alerts/thresholds', body);

    it('GET shows every threshold with its default before anything is set', async function () {
      const res = await get();
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ thresholds: DEFAULT_THRESHOLDS, defaults: DEFAULT_THRESHOLDS, overrides: {}, updated_at: null, updated_by: null });
      expect(res.body.thresholds).to.include({ error_rate: 0.1, error_min_requests: 20, quota_ratio: 0.9, provider_failure_rate: 0.5 });
    });

    it('PUT merges: named thresholds change, null resets one, the rest stay; audited', async function () {
      const first = await put({ error_rate: 0.25, master_rpm: 600 });
      expect(first.status, first.text).to.equal(200);
      expect(first.body.thresholds).to.deep.equal({ ...DEFAULT_THRESHOLDS, error_rate: 0.25, master_rpm: 600 });
      expect(first.body.overrides).to.deep.equal({ error_rate: 0.25, master_rpm: 600 });
      expect(first.body.updated_by).to.equal('admin:bootstrap');

      const second = await put({ master_rpm: null, global_qps: 0 });
      expect(second.body.thresholds).to.deep.equal({ ...DEFAULT_THRESHOLDS, error_rate: 0.25, global_qps: 0 });
      expect(second.body.overrides).to.deep.equal({ error_rate: 0.25, global_qps: 0 });
      expect((await get()).body).to.deep.equal(second.body);
      expect(await knex()('audit_events').where({ action: 'alert_thresholds.update' }).count<Array<{ count: number }>>('* as count')).to.deep.equal([{ count: 2 }]);
    });

    it('unknown thresholds and bad values are 400s naming each field; nothing is stored', async function () {
      const res = await put({ error_rate: 1.5, colour: 'red', foo: 1, error_min_requests: 2.5 });
      expectFieldError(res, 'body.colour');
      expectFieldError(res, 'body.foo');
      expectFieldError(res, 'body.error_rate');
      expectFieldError(res, 'body.error_min_requests');
      expectFieldError(await put({ error_window_minutes: 0 }), 'body.error_window_minutes');
      expectFieldError(await put({ master_tpm: -1 }), 'body.master_tpm');
      expectFieldError(await put([1]), 'body');
      expect((await get()).body.updated_at).to.equal(null);
    });
  });

  describe('POST /internal/alerts/report', function () {
    beforeEach(async function () {
      await api.deps.queues.get('webhooks').obliterate({ force: true });
    });

    it('creates (201), then deduplicates into the open alert (200) and announces only the first', async function () {
      const hook = await insertWebhook();
      const first = await report({ ...REPORT, at: '2026-03-01T10:00:00Z', metadata: { failures: 12 } });
      expect(first.status, first.text).to.equal(201);
      expect(first.body).to.include({ outcome: 'created', created: true });
      expect(first.body.alert).to.include({ type: 'provider_down', severity: 'critical', fingerprint: REPORT.fingerprint, related_type: 'api_key', related_id: '7', count: 1 });
      expect(first.body.alert.metadata).to.deep.equal({ failures: 12, source: 'data_plane', observed_at: '2026-03-01T10:00:00Z' });

      const second = await report({ ...REPORT, severity: 'warning' });
      expect(second.status).to.equal(200);
      expect(second.body).to.include({ outcome: 'deduplicated', created: false });
      expect(second.body.alert).to.include({ id: first.body.alert.id, count: 2, severity: 'critical' });

      // An acknowledged alert is still open: it keeps absorbing, however old.
      await act(first.body.alert.id, 'ack');
      await age(first.body.alert.id, { last_seen_at: minutesAgo(90) });
      expect((await report(REPORT)).body).to.deep.include({ outcome: 'deduplicated' });

      const jobs = await api.deps.queues.get('webhooks').getJobs(['waiting', 'delayed', 'completed', 'failed', 'active']);
      expect(jobs.map((j) => j.id)).to.deep.equal([`webhook-${hook}-alert-${first.body.alert.id}-created`]);
      const audit = await knex()('audit_events').where({ action: 'alert.create' }).select('actor_type', 'actor_id');
      expect(audit).to.deep.equal([{ actor_type: 'internal', actor_id: 'data-plane' }]);
    });

    it('a resolved alert absorbs reports for 5 minutes after the resolve; later a report is a new alert', async function () {
      const first = (await report(REPORT)).body.alert;
      await act(first.id, 'resolve');
      const during = await report(REPORT);
      expect(during.status).to.equal(200);
      expect(during.body).to.include({ outcome: 'suppressed', created: false });
      expect(during.body.alert).to.include({ id: first.id, status: 'resolved', count: 2 });

      await age(first.id, { resolved_at: minutesAgo(6) });
      const after = await report(REPORT);
      expect(after.status).to.equal(201);
      expect(after.body).to.include({ outcome: 'created' });
      expect(after.body.alert.id).not.to.equal(first.id);
    });

    it('a dismissed alert mutes its fingerprint while reports keep coming less than 5 minutes apart', async function () {
      const first = (await report(REPORT)).body.alert;
      await act(first.id, 'dismiss');
      await age(first.id, { dismissed_at: minutesAgo(30), last_seen_at: minutesAgo(4) });
      const muted = await report(REPORT);
      expect(muted.body).to.include({ outcome: 'suppressed' });
      expect(muted.body.alert).to.include({ id: first.id, status: 'dismissed', count: 2 });

      await age(first.id, { last_seen_at: minutesAgo(6) });
      const back = await report(REPORT);
      expect(back.status).to.equal(201);
      expect(back.body.alert.id).not.to.equal(first.id);
    });

    it('validates like the provider-events alert event: 400 naming each field', async function () {
      const res = await report({ ...REPORT, alert_type: 'Provider Down', severity: 'fatal', fingerprint: '', title: 'x'.repeat(201) });
      expectFieldError(res, 'body.alert_type');
      expectFieldError(res, 'body.severity');
      expectFieldError(res, 'body.fingerprint');
      expectFieldError(res, 'body.title');
      expectFieldError(await report({ ...REPORT, type: 'alert' }), 'body');
      expectFieldError(await report({ ...REPORT, at: 'now' }), 'body.at');
      expectFieldError(await report({ ...REPORT, metadata: { deep: { x: 1 } } }), 'body.metadata.deep');
      const { fingerprint: _f, ...noFingerprint } = REPORT;
      expectFieldError(await report(noFingerprint), 'body.fingerprint');
      expect(await knex()('alerts').count<Array<{ count: number }>>('* as count')).to.deep.equal([{ count: 0 }]);
    });
  });
});
