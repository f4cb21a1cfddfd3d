import { expect } from 'chai';
import { LastAdminError, updateAdminById, type AdminDto } from '../../src/domain/admins.service.js';
import { testEnv } from '../support/hooks.js';
import { basic, bearer, expectError, expectFieldError, send, useTestApi, type ErrorJson, type Page } from './helpers.js';

const PASSWORD = 'a-long-enough-password';

interface TokenAnswer {
  token: string;
  admin: { id: number; name: string; role: string };
}

const audit = async () =>
  (await testEnv().knex('audit_events').orderBy('id').select('actor_type', 'actor_id', 'action', 'object_id', 'metadata')) as Array<{
    actor_type: string;
    actor_id: string;
    action: string;
    object_id: string;
    metadata: Record<string, unknown>;
  }>;

describe('/admin/admins and roles', function () {
  this.timeout(60_000);
  const api = useTestApi<ErrorJson>('admins-test');
  const { call } = api;
  const create = (name: string, role: 'admin' | 'viewer', password = PASSWORD) => call<AdminDto & ErrorJson>('POST', '/admin/admins', { name, password, role });
  const loginAs = async (name: string, password = PASSWORD) => {
    const res = await send<TokenAnswer & ErrorJson>(api.url, 'POST', '/admin/login', { name, password });
    expect(res.status, res.text).to.equal(200);
    return res.body.token;
  };
  const as = (token: string) => ({
    req: <T = ErrorJson>(method: string, path: string, body?: unknown) => send<T>(api.url, method, path, body, bearer(token)),
  });
  /** An admin with its id and a fresh token. */
  const named = async (name: string, role: 'admin' | 'viewer') => {
    const res = await create(name, role);
    expect(res.status, res.text).to.equal(201);
    return { id: res.body.id, token: await loginAs(name) };
  };

  it('creates, lists, gets and deletes admins; never shows a password or hash', async () => {
    const res = await create('Ops.Lead', 'admin');
    expect(res.status, res.text).to.equal(201);
    expect(res.body).to.include({ name: 'ops.lead', role: 'admin', status: 'active', locked_until: null, last_login_at: null });
    expect(Object.keys(res.body).sort()).to.deep.equal(['created_at', 'id', 'last_login_at', 'locked_until', 'name', 'role', 'status', 'updated_at']);
    await create('viewer-1', 'viewer');
    const list = await call<Page<AdminDto>>('GET', '/admin/admins');
    expect(list.body.pagination.total).to.equal(2);
    expect(list.body.data.map((a) => [a.name, a.role])).to.deep.equal([['ops.lead', 'admin'], ['viewer-1', 'viewer']]);
    const viewers = await call<Page<AdminDto>>('GET', '/admin/admins?role=viewer');
    expect(viewers.body.data.map((a) => a.name)).to.deep.equal(['viewer-1']);
    const one = await call<AdminDto>('GET', `/admin/admins/${res.body.id}`);
    expect(one.body).to.deep.equal(res.body);
    for (const text of [res.text, list.text, one.text]) expect(text).to.not.match(/scrypt|password/);

    expect((await call('DELETE', `/admin/admins/${res.body.id}`)).status).to.equal(204);
    expectError(await call('GET', `/admin/admins/${res.body.id}`), 404, 'not_found');
    expectError(await call('DELETE', `/admin/admins/${res.body.id}`), 404, 'not_found');
    const events = await audit();
    expect(events.map((e) => e.action)).to.deep.equal(['admin.create', 'admin.create', 'admin.delete']);
    expect(events[0]).to.deep.include({ actor_type: 'admin', actor_id: 'bootstrap', object_id: String(res.body.id), metadata: { name: 'ops.lead', role: 'admin' } });
  });

  it('refuses bad input with the field named, and a taken name (any case) with 409', async () => {
    expectFieldError(await create('x', 'admin', 'short'), 'body.password');
    expectFieldError(await create('x', 'admin', 'p'.repeat(257)), 'body.password');
    expectFieldError(await create('has space', 'admin'), 'body.name');
    expectFieldError(await create('-dash-first', 'admin'), 'body.name');
    expectFieldError(await call('POST', '/admin/admins', { name: 'x', password: PASSWORD, role: 'root' }), 'body.role');
    expectFieldError(await call('POST', '/admin/admins', { name: 'x', password: PASSWORD, role: 'admin', password_hash: 'x' }), 'body');
    expect((await create('dup', 'viewer')).status).to.equal(201);
    expectError(await create('DUP', 'admin'), 409, 'conflict', 'body.name');
    expectFieldError(await call('PATCH', '/admin/admins/1', { status: 'gone' }), 'body.status');
    expectFieldError(await call('GET', '/admin/admins/abc'), 'params.id');
  });

  it('a viewer may read, but every write and secret reveal is 403 naming the role; Bull Board is read-only for them', async () => {
    const viewer = await named('watcher', 'viewer');
    const v = as(viewer.token);
    expect((await v.req('GET', '/admin/admins')).status).to.equal(200);
    expect((await v.req('GET', '/admin/namespaces')).status).to.equal(200);
    expect((await v.req('HEAD', '/admin/namespaces')).status).to.equal(200);
    const post = await v.req('POST', '/admin/namespaces', { name: 'nope' });
    expect(expectError(post, 403, 'forbidden').message).to.match(/viewer/);
    expectError(await v.req('PATCH', `/admin/admins/${viewer.id}`, { role: 'admin' }), 403, 'forbidden');
    expectError(await v.req('DELETE', `/admin/admins/${viewer.id}`), 403, 'forbidden');
    expectError(await v.req('POST', '/admin/admins', { name: 'sneaky', password: PASSWORD, role: 'admin' }), 403, 'forbidden');
    expectError(await v.req('GET', '/admin/api-keys/1/reveal'), 403, 'forbidden');
    expect(await testEnv().knex('namespaces').where({ name: 'nope' }).first()).to.equal(undefined);

    const board = await fetch(`${api.url}/admin/queues/api/queues`, { headers: basic('watcher', viewer.token) });
    expect(board.status).to.equal(200);
    const pause = await fetch(`${api.url}/admin/queues/api/queues/${api.queue.name}/pause`, { method: 'PUT', headers: basic('watcher', viewer.token) });
    expect(pause.status).to.equal(403);
    expect(await api.queue.isPaused()).to.equal(false);

    // Their own password is theirs to change.
    const changed = await v.req<TokenAnswer>('POST', '/admin/me/password', { current_password: PASSWORD, new_password: 'viewer-new-password' });
    expect(changed.status, changed.text).to.equal(200);
    expect(changed.body.admin).to.deep.include({ name: 'watcher', role: 'viewer' });
  });

  it('an admin role may do what the bootstrap token does, including managing admins', async () => {
    const boss = as((await named('boss', 'admin')).token);
    const created = await boss.req<AdminDto>('POST', '/admin/admins', { name: 'junior', password: PASSWORD, role: 'viewer' });
    expect(created.status, created.text).to.equal(201);
    expect((await boss.req('PATCH', `/admin/admins/${created.body.id}`, { role: 'admin' })).status).to.equal(200);
    expect((await boss.req('POST', '/admin/namespaces', { name: 'by-boss' })).status).to.equal(201);
    const events = await audit();
    expect(events.filter((e) => e.action === 'admin.update')[0]).to.deep.include({ actor_id: events.find((e) => e.action === 'admin.login')!.actor_id });
    expect(events.find((e) => e.action === 'admin.update')!.actor_id).to.match(/^boss#\d+$/);
  });

  it('disabling an admin or changing their password ends their sessions at once; a demotion applies at once', async () => {
    const target = await named('target', 'admin');
    const t = as(target.token);
    expect((await t.req('GET', '/admin/whoami')).status).to.equal(200);
    expect((await call('PATCH', `/admin/admins/${target.id}`, { status: 'disabled' })).status).to.equal(200);
    expectError(await t.req('GET', '/admin/whoami'), 401, 'unauthorized');
    expect((await call('PATCH', `/admin/admins/${target.id}`, { status: 'active' })).status).to.equal(200);
    expectError(await t.req('GET', '/admin/whoami'), 401, 'unauthorized'); // re-enabling does not revive old tokens

    const second = as(await loginAs('target'));
    expect((await second.req('GET', '/admin/whoami')).status).to.equal(200);
    const reset = await call<AdminDto>('PATCH', `/admin/admins/${target.id}`, { password: 'a-brand-new-password' });
    expect(reset.status, reset.text).to.equal(200);
    expectError(await second.req('GET', '/admin/whoami'), 401, 'unauthorized');

    const third = as(await loginAs('target', 'a-brand-new-password'));
    expect((await third.req('POST', '/admin/namespaces', { name: 'before-demotion' })).status).to.equal(201);
    expect((await call('PATCH', `/admin/admins/${target.id}`, { role: 'viewer' })).status).to.equal(200);
    expectError(await third.req('POST', '/admin/namespaces', { name: 'after-demotion' }), 403, 'forbidden');
    expect((await third.req('GET', '/admin/namespaces')).status).to.equal(200);
    const update = (await audit()).filter((e) => e.action === 'admin.update').map((e) => e.metadata.tokens_revoked);
    expect(update).to.deep.equal([true, false, true, false]);
  });

  it('POST /admin/me/password checks the current password, ends the other sessions and answers a fresh token', async () => {
    const me = await named('self-service', 'admin');
    const other = await loginAs('self-service');
    const m = as(me.token);
    expectFieldError(await m.req('POST', '/admin/me/password', { current_password: 'not-my-password', new_password: 'whatever-new-password' }), 'body.current_password');
    expectFieldError(await m.req('POST', '/admin/me/password', { current_password: PASSWORD, new_password: 'short' }), 'body.new_password');
    expectFieldError(await m.req('POST', '/admin/me/password', { current_password: PASSWORD, new_password: PASSWORD }), 'body.new_password');
    const changed = await m.req<TokenAnswer>('POST', '/admin/me/password', { current_password: PASSWORD, new_password: 'my-next-password-1' });
    expect(changed.status, changed.text).to.equal(200);
    expectError(await as(me.token).req('GET', '/admin/whoami'), 401, 'unauthorized');
    expectError(await as(other).req('GET', '/admin/whoami'), 401, 'unauthorized');
    expect((await as(changed.body.token).req('GET', '/admin/whoami')).status).to.equal(200);
    expect(await loginAs('self-service', 'my-next-password-1')).to.be.a('string');
    expectError(await call('POST', '/admin/me/password', { current_password: PASSWORD, new_password: 'my-next-password-2' }), 403, 'forbidden');
    const row = (await testEnv().knex('admins').where({ name: 'self-service' }).first()) as { failed_logins: number };
    expect(row.failed_logins).to.equal(0);
  });

  it('an admin cannot disable, demote or delete themselves; the last active admin is kept unless the bootstrap token acts', async () => {
    const me = await named('only-admin', 'admin');
    const m = as(me.token);
    expectError(await m.req('PATCH', `/admin/admins/${me.id}`, { status: 'disabled' }), 409, 'cannot_modify_self');
    expectError(await m.req('PATCH', `/admin/admins/${me.id}`, { role: 'viewer' }), 409, 'cannot_modify_self');
    expectError(await m.req('DELETE', `/admin/admins/${me.id}`), 409, 'cannot_modify_self');
    expect((await m.req('PATCH', `/admin/admins/${me.id}`, { role: 'admin' })).status).to.equal(200); // not a demotion

    // A named caller (here one who lost the race to another demotion) cannot take the last admin away.
    const viewer = await named('late-viewer', 'viewer');
    const writer = { knex: testEnv().knex, nudge: async () => {} };
    const ctx = { actor: { type: 'admin' as const, id: `late-viewer#${viewer.id}` } };
    for (const patch of [{ role: 'viewer' as const }, { status: 'disabled' as const }]) {
      let error: unknown;
      await updateAdminById(writer, ctx, { adminId: viewer.id }, me.id, patch).catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(LastAdminError);
      expect((error as LastAdminError).code).to.equal('last_admin');
    }
    // The bootstrap token may.
    expect((await call('PATCH', `/admin/admins/${me.id}`, { role: 'viewer' })).status).to.equal(200);
    expect((await call('DELETE', `/admin/admins/${me.id}`)).status).to.equal(204);
  });
});
