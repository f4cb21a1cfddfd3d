import { expect } from 'chai';
import { KeyDigester } from '../../src/lib/key-digest.js';
import { testEnv } from '../support/hooks.js';
import { audits, clearLedger, masterFixtures, outbox } from './fixtures.js';
import { ADMIN_TOKEN, EZ_SECRET, expectError, useTestApi, type Page } from './helpers.js';

interface MasterJson {
  id: number;
  key: string;
}
interface KeyJson {
  id: number;
  master_id: number;
  name: string;
  key?: string;
  issued_by: string;
  issuer_id: string | null;
  namespaces: string[];
}

describe('master self-service /v1/tokens', function () {
  // No default credentials: each request names the master key it presents.
  const api = useTestApi('tokens-api', { token: null });
  const { req } = api;
  const knex = () => testEnv().knex;

  const { createMaster } = masterFixtures<MasterJson>(api);
  const createToken = async (master: MasterJson, body: Record<string, unknown> = {}) => {
    const res = await req<KeyJson>('POST', '/v1/tokens', { token: master.key, body: { name: 't', ...body } });
    expect(res.status, res.text).to.equal(201);
    return res.body;
  };

  it('a master issues its own key (issued_by=master), shown once, audited as the master', async function () {
    const master = await createMaster();
    await clearLedger();
    const res = await req<KeyJson>('POST', '/v1/tokens', { token: master.key, body: { name: 'laptop' } });
    expect(res.status, res.text).to.equal(201);
    expect(res.body).to.include({ master_id: master.id, name: 'laptop', issued_by: 'master', issuer_id: String(master.id) });
    expect(res.body.key).to.match(/^ezk_/);
    const digest = new KeyDigester(EZ_SECRET).digest(res.body.key!);
    expect(await outbox()).to.deep.equal([{ resource: 'key', resource_id: String(res.body.id), action: 'upsert', payload: { digest } }]);
    const [audit, ...more] = await audits();
    expect(more).to.have.length(0);
    expect(audit).to.include({ action: 'key.create', actor_type: 'master', actor_id: String(master.id), object_id: String(res.body.id) });
    expect(JSON.stringify(audit)).to.not.contain(res.body.key).and.not.contain(digest);
    const list = await req('GET', '/v1/tokens', { token: master.key });
    expect(list.text).to.not.contain(res.body.key).and.not.contain(digest);
  });

  it('refuses bad input with 400 naming the field', async function () {
    const master = await createMaster();
    expectError(await req('POST', '/v1/tokens', { token: master.key, body: {} }), 400, 'validation_failed', 'body.name');
    expectError(await req('POST', '/v1/tokens', { token: master.key, body: { name: 't', rpm_limit: 'many' } }), 400, 'validation_failed', 'body.rpm_limit');
    expectError(await req('POST', '/v1/tokens', { token: master.key, body: { name: 't', master_id: 2 } }), 400, 'validation_failed', 'body');
    expectError(await req('POST', '/v1/tokens', { token: master.key, body: { name: 't', namespaces: ['other'] } }), 400, 'validation_failed', 'body.namespaces');
    expectError(await req('POST', '/v1/tokens', { token: master.key }), 400, 'validation_failed', 'body');
  });

  it('respects max_child_keys with a 409', async function () {
    const master = await createMaster({ max_child_keys: 1 });
    await createToken(master);
    const error = expectError(await req('POST', '/v1/tokens', { token: master.key, body: { name: 'second' } }), 409, 'conflict');
    expect(error.message).to.contain('max_child_keys 1');
  });

  it('a master lists only its own keys', async function () {
    const mine = await createMaster();
    const theirs = await createMaster({ name: 'other' });
    const a = await createToken(mine, { name: 'a' });
    await createToken(theirs, { name: 'x' });
    const b = await createToken(mine, { name: 'b' });
    const list = await req<Page<KeyJson>>('GET', '/v1/tokens', { token: mine.key });
    expect(list.status).to.equal(200);
    expect(list.body.data.map((k) => k.id)).to.deep.equal([b.id, a.id]);
    expect(list.body.pagination).to.deep.equal({ limit: 50, offset: 0, total: 2 });
    expect((await req<Page<KeyJson>>('GET', '/v1/tokens?limit=1', { token: mine.key })).body.data).to.have.length(1);
    expectError(await req('GET', '/v1/tokens?limit=500', { token: mine.key }), 400, 'validation_failed', 'query.limit');
  });

  it("a master cannot read or delete another master's key: 404, and the key survives", async function () {
    const mine = await createMaster();
    const theirs = await createMaster({ name: 'other' });
    const their = await createToken(theirs);
    await clearLedger();
    const del = expectError(await req('DELETE', `/v1/tokens/${their.id}`, { token: mine.key }), 404, 'not_found');
    expect(del.message).to.equal(`key ${their.id} not found`);
    expectError(await req('GET', `/v1/tokens/${their.id}`, { token: mine.key }), 404, 'not_found');
    expect(await knex()('keys').where('id', their.id).select('id')).to.have.length(1);
    expect(await outbox()).to.have.length(0);
    expect(await audits()).to.have.length(0);
  });

  it('a master deletes its own key, recording the key delete', async function () {
    const master = await createMaster();
    const key = await createToken(master);
    expect((await req<KeyJson>('GET', `/v1/tokens/${key.id}`, { token: master.key })).body.id).to.equal(key.id);
    await clearLedger();
    const res = await req('DELETE', `/v1/tokens/${key.id}`, { token: master.key });
    expect(res.status).to.equal(204);
    expect(await outbox()).to.deep.equal([
      { resource: 'key', resource_id: String(key.id), action: 'delete', payload: { digest: new KeyDigester(EZ_SECRET).digest(key.key!) } },
    ]);
    expect(await audits()).to.have.length(1);
    expectError(await req('DELETE', `/v1/tokens/${key.id}`, { token: master.key }), 404, 'not_found');
    expectError(await req('DELETE', '/v1/tokens/abc', { token: master.key }), 400, 'validation_failed', 'params.id');
  });

  it('refuses a missing or wrong master key with 401, and the admin token too', async function () {
    for (const token of [null, 'ezm_nope', ADMIN_TOKEN]) {
      const res = await req('GET', '/v1/tokens', { token });
      expectError(res, 401, 'unauthorized');
      expect(res.headers.get('www-authenticate')).to.contain('Bearer');
    }
  });

  it('a master cannot use the admin routes (401)', async function () {
    const master = await createMaster();
    expectError(await req('GET', '/admin/masters', { token: master.key }), 401, 'unauthorized');
    expectError(await req('GET', `/admin/masters/${master.id}/keys`, { token: master.key }), 401, 'unauthorized');
    expectError(await req('PATCH', `/admin/masters/${master.id}`, { token: master.key, body: { max_child_keys: 99 } }), 401, 'unauthorized');
  });

  it("a suspended master's key is refused with 403 on every /v1/tokens route", async function () {
    const master = await createMaster();
    const key = await createToken(master);
    await req('PATCH', `/admin/masters/${master.id}`, { token: ADMIN_TOKEN, body: { status: 'suspended' } });
    expectError(await req('GET', '/v1/tokens', { token: master.key }), 403, 'forbidden');
    expectError(await req('POST', '/v1/tokens', { token: master.key, body: { name: 'x' } }), 403, 'forbidden');
    expectError(await req('DELETE', `/v1/tokens/${key.id}`, { token: master.key }), 403, 'forbidden');
  });

  it('a child key is not a master key (401)', async function () {
    const master = await createMaster();
    const key = await createToken(master);
    expectError(await req('GET', '/v1/tokens', { token: key.key! }), 401, 'unauthorized');
  });
});
