import { expect } from 'chai';
import type { AuditEventRow } from '../../src/db/audit.repository.js';
import { testEnv } from '../support/hooks.js';
import { ADMIN_TOKEN, bearer, fields, useTestApi, type ErrorJson } from './helpers.js';

type AuditEvent = Omit<AuditEventRow, 'created_at'> & { created_at: string };
interface AuditList {
  data: AuditEvent[];
  next_before: number | null;
}

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

describe('GET /admin/audit', function () {
  const api = useTestApi<ErrorJson>('audit-test');
  const call = <T = ErrorJson>(path: string) => api.call<T>('GET', path);
  const actions = (list: AuditList) => list.data.map((e) => e.action);

  beforeEach(async function () {
    const row = (actor_type: string, actor_id: string | null, action: string, object_type: string | null, object_id: string | null, minutes: number) => ({
      actor_type,
      actor_id,
      action,
      object_type,
      object_id,
      metadata: JSON.stringify({ n: minutes }),
      created_at: at(minutes),
    });
    // Inserted in time order, so ids follow time.
    await testEnv()
      .knex('audit_events')
      .insert([
        row('admin', 'bootstrap', 'master.create', 'master', '1', 0),
        row('admin', 'bootstrap', 'binding.create', 'binding', '7', 10),
        row('master', '1', 'key.create', 'key', '3', 20),
        row('system', null, 'api_key.auto_ban', 'api_key', '9', 30),
        row('admin', 'alice', 'binding.update', 'binding', '7', 40),
        row('admin', 'bootstrap', 'binding.delete', 'binding', '8', 50),
      ]);
  });

  it('lists newest first with every field, and includes events written through the api', async function () {
    const created = await fetch(`${api.url}/admin/namespaces`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'Content-Type': 'application/json', 'X-Request-ID': 'req-audit-1' },
      body: JSON.stringify({ name: 'audited' }),
    });
    expect(created.status).to.equal(201);
    const res = await call<AuditList>('/admin/audit');
    expect(res.status).to.equal(200);
    expect(actions(res.body)).to.deep.equal(['namespace.create', 'binding.delete', 'binding.update', 'api_key.auto_ban', 'key.create', 'binding.create', 'master.create']);
    expect(res.body.next_before).to.equal(null);
    const [latest] = res.body.data;
    expect(latest).to.deep.include({ actor_type: 'admin', actor_id: 'bootstrap', object_type: 'namespace', request_id: 'req-audit-1', metadata: { name: 'audited' } });
    expect(latest!.ip).to.be.a('string');
    expect(res.body.data[1]).to.deep.include({ action: 'binding.delete', object_id: '8', created_at: at(50).toISOString(), metadata: { n: 50 } });
  });

  it('filters by actor, action, object and time', async function () {
    expect(actions((await call<AuditList>('/admin/audit?actor_type=admin')).body)).to.deep.equal(['binding.delete', 'binding.update', 'binding.create', 'master.create']);
    expect(actions((await call<AuditList>('/admin/audit?actor_type=admin&actor_id=alice')).body)).to.deep.equal(['binding.update']);
    expect(actions((await call<AuditList>('/admin/audit?actor_type=system')).body)).to.deep.equal(['api_key.auto_ban']);
    expect(actions((await call<AuditList>('/admin/audit?action=binding.create')).body)).to.deep.equal(['binding.create']);
    expect(actions((await call<AuditList>('/admin/audit?object_type=binding&object_id=7')).body)).to.deep.equal(['binding.update', 'binding.create']);
    const window = await call<AuditList>(`/admin/audit?since=${encodeURIComponent(at(10).toISOString())}&until=${encodeURIComponent(at(40).toISOString())}`);
    // since is inclusive, until exclusive.
    expect(actions(window.body)).to.deep.equal(['api_key.auto_ban', 'key.create', 'binding.create']);
    const offset = await call<AuditList>(`/admin/audit?since=${encodeURIComponent('2026-03-01T01:35:00+01:00')}`);
    expect(actions(offset.body)).to.deep.equal(['binding.delete', 'binding.update']);
    expect((await call<AuditList>('/admin/audit?action=nothing.here')).body).to.deep.equal({ data: [], next_before: null });
  });

  it('pages with limit and before until next_before is null', async function () {
    const seen: string[] = [];
    let before: number | null | undefined;
    let pages = 0;
    do {
      const res = await call<AuditList>(`/admin/audit?limit=4${before ? `&before=${before}` : ''}`);
      expect(res.status).to.equal(200);
      expect(res.body.data.length).to.be.at.most(4);
      seen.push(...actions(res.body));
      before = res.body.next_before;
      pages += 1;
    } while (before !== null && pages < 10);
    expect(pages).to.equal(2);
    expect(seen).to.deep.equal(['binding.delete', 'binding.update', 'api_key.auto_ban', 'key.create', 'binding.create', 'master.create']);
    // An exactly full last page says so: no empty extra page.
    const exact = await call<AuditList>('/admin/audit?limit=6');
    expect(exact.body.next_before).to.equal(null);
    const filtered = await call<AuditList>('/admin/audit?object_type=binding&limit=2');
    expect(actions(filtered.body)).to.deep.equal(['binding.delete', 'binding.update']);
    const rest = await call<AuditList>(`/admin/audit?object_type=binding&limit=2&before=${filtered.body.next_before}`);
    expect(actions(rest.body)).to.deep.equal(['binding.create']);
    expect(rest.body.next_before).to.equal(null);
  });

  it('refuses bad parameters, naming them', async function () {
    const res = await call('/admin/audit?limit=0&before=-3&actor_type=robot&since=yesterday');
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('validation_failed');
    expect(fields(res.body)).to.include.members(['query.limit', 'query.before', 'query.actor_type', 'query.since']);
    expect(fields((await call('/admin/audit?limit=201')).body)).to.deep.equal(['query.limit']);
    expect(fields((await call('/admin/audit?since=2026-03-01T00:00:00')).body)).to.deep.equal(['query.since']);
    const order = await call(`/admin/audit?since=${encodeURIComponent(at(10).toISOString())}&until=${encodeURIComponent(at(5).toISOString())}`);
    expect(fields(order.body)).to.deep.equal(['query.until']);
    const unknown = await call('/admin/audit?offset=10');
    expect(unknown.status).to.equal(400);
    expect(unknown.body.error.details![0]!.message).to.contain('offset');
    expect((await fetch(`${api.url}/admin/audit`)).status).to.equal(401);
  });
});
