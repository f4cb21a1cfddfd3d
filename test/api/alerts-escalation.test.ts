import { expect } from 'chai';
import type { AlertDto } from '../../src/domain/alerts/dto.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { testEnv } from '../support/hooks.js';
import { EZ_SECRET, expectError, send, useTestApi, type ErrorJson } from './helpers.js';

const INTERNAL_TOKEN = 'ezint_test-internal-token-0123456789';

interface ReportReply {
  outcome: 'created' | 'deduplicated' | 'suppressed';
  created: boolean;
  alert: AlertDto;
}

interface EventJob {
  id: string;
  event: { id: string; type: string; data: { alert: AlertDto; previous_severity?: string } };
}

/** `alert.escalated` (docs/alerts.md "Announcements") and `invalid_transition` answers. */
describe('/admin/alerts escalation and transitions', function () {
  this.timeout(20_000);
  const api = useTestApi<ErrorJson>('alerts-escalation-test');
  const { call } = api;
  const knex = () => testEnv().knex;
  const webhooks = () => api.deps.queues.get('webhooks');

  const report = (body: Record<string, unknown>) => send<ReportReply>(api.url, 'POST', '/internal/alerts/report', body, { 'X-Internal-Token': INTERNAL_TOKEN });
  const act = (id: number, action: string) => call<AlertDto>('POST', `/admin/alerts/${id}/${action}`);
  const SPIKE = { alert_type: 'traffic_spike', title: 'Traffic spike', message: 'm7 rpm', fingerprint: 'traffic_spike:master:7:rpm', related_type: 'master', related_id: '7' };

  async function insertWebhook(events: string[]): Promise<number> {
    const [row] = (await knex()('webhooks').insert({ url: 'http://127.0.0.1:9/hook', events, secret_ciphertext: Buffer.alloc(1), secret_nonce: Buffer.alloc(1) }).returning('id')) as Array<{ id: number }>;
    const sealed = new SecretBox(EZ_SECRET).seal('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', SecretBox.aad('webhooks', row!.id, 'secret'));
    await knex()('webhooks').where('id', row!.id).update({ secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion });
    return row!.id;
  }

  async function jobs(): Promise<EventJob[]> {
    const all = await webhooks().getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
    return all.map((j) => ({ id: j.id!, event: (j.data as { event: EventJob['event'] }).event })).sort((a, b) => a.id.localeCompare(b.id));
  }

  beforeEach(async function () {
    await webhooks().obliterate({ force: true });
  });

  it('a report that raises an open alert to critical is announced once as alert.escalated; repeats and lower reports are not', async function () {
    const hook = await insertWebhook(['alert.escalated']);
    const all = await insertWebhook([]);
    const created = await report({ ...SPIKE, severity: 'warning' });
    expect(created.status, created.text).to.equal(201);
    const id = created.body.alert.id;

    const escalated = await report({ ...SPIKE, severity: 'critical', metadata: { value: 6_000, threshold: 3_000 } });
    expect(escalated.status).to.equal(200);
    expect(escalated.body).to.include({ outcome: 'deduplicated' });
    expect(escalated.body.alert).to.include({ id, severity: 'critical', count: 2 });

    const published = await jobs();
    expect(published.map((j) => j.id)).to.deep.equal(
      [`webhook-${all}-alert-${id}-created`, `webhook-${all}-alert-${id}-escalated-critical`, `webhook-${hook}-alert-${id}-escalated-critical`].sort(),
    );
    const event = published.find((j) => j.id === `webhook-${hook}-alert-${id}-escalated-critical`)!.event;
    expect(event).to.include({ type: 'alert.escalated', id: `alert-${id}-escalated-critical` });
    expect(event.data.previous_severity).to.equal('warning');
    expect(event.data.alert).to.include({ id, severity: 'critical', status: 'active', count: 2 });
    expect(event.data.alert).to.not.have.property('announced_severity');

    // Emptied queue: whatever appears now was published again.
    await webhooks().obliterate({ force: true });
    expect((await report({ ...SPIKE, severity: 'critical' })).body.alert).to.include({ severity: 'critical', count: 3 });
    const lower = await report({ ...SPIKE, severity: 'warning' });
    expect(lower.body.alert).to.include({ severity: 'critical', count: 4 });
    expect(await jobs()).to.deep.equal([]);
  });

  it('an acknowledged alert is still announced when it escalates; one jump info → critical is one event', async function () {
    const hook = await insertWebhook(['alert.*']);
    const id = (await report({ ...SPIKE, severity: 'info' })).body.alert.id;
    expect((await act(id, 'ack')).status).to.equal(200);
    await report({ ...SPIKE, severity: 'critical' });
    const escalations = (await jobs()).filter((j) => j.event.type === 'alert.escalated');
    expect(escalations.map((j) => j.id)).to.deep.equal([`webhook-${hook}-alert-${id}-escalated-critical`]);
    expect(escalations[0]!.event.data.previous_severity).to.equal('info');
    expect(escalations[0]!.event.data.alert).to.include({ status: 'acknowledged', severity: 'critical' });
  });

  it('a closed alert absorbing a report in its cooldown is not announced as escalated', async function () {
    await insertWebhook(['alert.escalated']);
    const id = (await report({ ...SPIKE, severity: 'warning' })).body.alert.id;
    await act(id, 'dismiss');
    const muted = await report({ ...SPIKE, severity: 'critical' });
    expect(muted.body).to.include({ outcome: 'suppressed' });
    expect(await jobs()).to.deep.equal([]);
  });

  it('an action the status does not allow is a 409 invalid_transition naming from and to', async function () {
    const id = (await report({ ...SPIKE, severity: 'warning' })).body.alert.id;
    expect((await act(id, 'dismiss')).status).to.equal(200);

    const res = await act(id, 'resolve');
    const error = expectError(res, 409, 'invalid_transition', 'status');
    expect(error.message).to.include('dismissed');
    expect(error.details).to.deep.equal([{ field: 'status', message: 'is dismissed', from: 'dismissed', to: 'resolved' }]);
    expect(expectError(await act(id, 'ack'), 409, 'invalid_transition').details).to.deep.equal([
      { field: 'status', message: 'is dismissed', from: 'dismissed', to: 'acknowledged' },
    ]);
    expect(expectError(await act(id, 'dismiss'), 409, 'invalid_transition').message).to.include('already dismissed');
    // Nothing changed, nothing audited past the dismiss.
    expect((await call<AlertDto>('GET', `/admin/alerts/${id}`)).body).to.include({ status: 'dismissed', resolved_at: null });
    const actions = (await knex()('audit_events').orderBy('id').select('action')).map((r: { action: string }) => r.action);
    expect(actions).to.deep.equal(['alert.create', 'alert.dismiss']);
  });
});
