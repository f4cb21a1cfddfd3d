import { expect } from 'chai';
import { SignJWT } from 'jose';
import knexFactory from 'knex';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createApiApp } from '../../src/api/app.js';
import { AdminTokenCodec } from '../../src/domain/admin-token.js';
import { createAdmin, login, LoginLockedError, InvalidCredentialsError, type LoginDeps } from '../../src/domain/admins.service.js';
import { LOGIN_LOCKOUT, redisUnknownNameLockout } from '../../src/domain/login-lockout.js';
import { createLogger } from '../../src/lib/logger.js';
import { deriveSubkey } from '../../src/lib/secrets.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { ADMIN_TOKEN, apiClient, bearer, EZ_SECRET, expectError, send, startTestApi, type ErrorJson, type TestApi } from './helpers.js';

interface TokenAnswer {
  token: string;
  token_type: string;
  expires_at: string;
  admin: { id: number; name: string; role: string };
}

const PASSWORD = 'alice-password-0123';
const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const adminRow = (name: string) => testEnv().knex('admins').where({ name }).first() as Promise<Record<string, unknown>>;

describe('POST /admin/login and admin JWTs', function () {
  this.timeout(60_000);
  let api: TestApi;
  const lines: string[] = [];
  const client = apiClient<ErrorJson>(() => api.url);
  const loginAs = (name: string, password: string) => send<TokenAnswer & ErrorJson>(api.url, 'POST', '/admin/login', { name, password });
  const whoami = (token: string) => send<{ actor: { type: string; id: string; role: string; admin_id?: number; name?: string } } & ErrorJson>(api.url, 'GET', '/admin/whoami', undefined, bearer(token));
  const createViaApi = async (name: string, role: 'admin' | 'viewer' = 'admin', password = PASSWORD) => {
    const res = await client.call<{ id: number } & ErrorJson>('POST', '/admin/admins', { name, password, role });
    expect(res.status, res.text).to.equal(201);
    return res.body.id;
  };

  before(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    api = await startTestApi({ queueName: 'admin-login', logger: createLogger({ level: 'trace', destination }) });
  });
  after(async () => {
    await api?.close();
  });
  beforeEach(async () => {
    await resetDatabase();
  });

  it('a named admin logs in and the JWT works on admin routes as <name>#<id>', async () => {
    const id = await createViaApi('Alice');
    const res = await loginAs('ALICE', PASSWORD);
    expect(res.status, res.text).to.equal(200);
    expect(res.headers.get('cache-control')).to.equal('no-store');
    expect(res.body).to.include({ token_type: 'Bearer' });
    expect(res.body.admin).to.deep.equal({ id, name: 'alice', role: 'admin' });
    const claims = payloadOf(res.body.token);
    expect(claims).to.include({ sub: String(id), name: 'alice', role: 'admin', epoch: 0, iss: 'ez-api', aud: 'ez-api-admin' });
    expect((claims.exp as number) - (claims.iat as number)).to.equal(43_200);
    expect(new Date(res.body.expires_at).getTime()).to.equal((claims.exp as number) * 1_000);

    const me = await whoami(res.body.token);
    expect(me.status, me.text).to.equal(200);
    expect(me.body.actor).to.deep.equal({ type: 'admin', id: `alice#${id}`, role: 'admin', admin_id: id, name: 'alice' });
    const created = await send<{ id: number }>(api.url, 'POST', '/admin/namespaces', { name: 'by-alice' }, bearer(res.body.token));
    expect(created.status, created.text).to.equal(201);
    const audit = await testEnv().knex('audit_events').where({ action: 'namespace.create' }).first();
    expect(audit).to.include({ actor_type: 'admin', actor_id: `alice#${id}` });
    const loginEvent = await testEnv().knex('audit_events').where({ action: 'admin.login' }).first();
    expect(loginEvent).to.include({ actor_type: 'admin', actor_id: `alice#${id}`, object_id: String(id) });
    expect((await adminRow('alice')).last_login_at).to.be.instanceOf(Date);
  });

  it('a wrong password, an unknown name and a disabled admin get identical 401 bodies', async () => {
    const id = await createViaApi('bob');
    const wrong = await loginAs('bob', 'not-the-password');
    const unknown = await loginAs('nobody-here', 'not-the-password');
    expectError(wrong, 401, 'invalid_credentials');
    expect(unknown.status).to.equal(401);
    expect(unknown.text).to.equal(wrong.text);
    expect((await client.call('PATCH', `/admin/admins/${id}`, { status: 'disabled' })).status).to.equal(200);
    const disabled = await loginAs('bob', PASSWORD);
    expect(disabled.status).to.equal(401);
    expect(disabled.text).to.equal(wrong.text);
    expectError(await loginAs('', PASSWORD), 400, 'validation_failed', 'body.name');
    expectError(await send(api.url, 'POST', '/admin/login', { name: 'bob', password: PASSWORD, role: 'admin' }), 400, 'validation_failed');
  });

  it('5 failed logins lock the name (429 + Retry-After) even for the right password; an unknown name locks the same way', async () => {
    await createViaApi('carol');
    for (let i = 0; i < 4; i++) expectError(await loginAs('carol', `wrong-password-${i}`), 401, 'invalid_credentials');
    const fifth = await loginAs('carol', 'wrong-password-5');
    expectError(fifth, 429, 'rate_limited');
    const retryAfter = Number(fifth.headers.get('retry-after'));
    expect(retryAfter).to.be.within(890, 900);
    const right = await loginAs('carol', PASSWORD);
    expectError(right, 429, 'rate_limited');
    expect(Number(right.headers.get('retry-after'))).to.be.within(1, 900);
    const lockout = await testEnv().knex('audit_events').where({ action: 'admin.lockout' }).first();
    expect(lockout).to.include({ actor_type: 'system', actor_id: 'admin-login' });

    const ghost = `ghost-${Date.now()}`;
    for (let i = 0; i < 4; i++) expectError(await loginAs(ghost, `wrong-password-${i}`), 401, 'invalid_credentials');
    const ghostFifth = await loginAs(ghost, 'wrong-password-5');
    expectError(ghostFifth, 429, 'rate_limited');
    expect(Number(ghostFifth.headers.get('retry-after'))).to.be.within(890, 900);
    expect(ghostFifth.text.replace(/\d+ s/, 'N s')).to.equal(fifth.text.replace(/\d+ s/, 'N s'));

    // The lock ends (as 15 minutes later): the right password works and the count starts over.
    await testEnv().knex('admins').where({ name: 'carol' }).update({ locked_until: new Date(Date.now() - 1_000) });
    const after = await loginAs('carol', PASSWORD);
    expect(after.status, after.text).to.equal(200);
    expect(await adminRow('carol')).to.include({ failed_logins: 0, locked_until: null });
  });

  it('expired, tampered, wrong-audience, foreign-key, alg:none and non-JWT tokens are 401', async () => {
    const id = await createViaApi('dave', 'viewer');
    const codec = new AdminTokenCodec(EZ_SECRET, 43_200);
    const row = { id, name: 'dave', role: 'viewer' as const, token_epoch: 0 };
    const good = (await codec.sign(row)).token;
    const me = await whoami(good);
    expect(me.status).to.equal(200);
    expect(me.body.actor).to.deep.equal({ type: 'admin', id: `dave#${id}`, role: 'viewer', admin_id: id, name: 'dave' });

    const expired = (await codec.sign(row, new Date(Date.now() - 43_201_000))).token;
    const [header, , signature] = good.split('.');
    const tampered = `${header}.${b64({ ...payloadOf(good), role: 'admin' })}.${signature}`;
    const key = new Uint8Array(deriveSubkey(EZ_SECRET, 'jwt-signing'));
    const now = Math.floor(Date.now() / 1_000);
    const claims = { name: 'dave', role: 'viewer', epoch: 0 };
    const wrongAudience = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(String(id)).setIssuer('ez-api').setAudience('somebody-else').setIssuedAt(now).setExpirationTime(now + 600).sign(key);
    const wrongIssuer = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(String(id)).setIssuer('evil').setAudience('ez-api-admin').setIssuedAt(now).setExpirationTime(now + 600).sign(key);
    const foreignKey = (await new AdminTokenCodec('another-secret-0123456789abcdef0123456789', 43_200).sign(row)).token;
    const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...payloadOf(good) })}.`;
    const cases: Record<string, string> = { expired, tampered, wrongAudience, wrongIssuer, foreignKey, algNone, garbage: 'a.b.c', notJwt: 'ezadm_not-a-token' };
    for (const [what, token] of Object.entries(cases)) {
      const res = await whoami(token);
      expect(res.status, what).to.equal(401);
      expect(res.body.error.code, what).to.equal('unauthorized');
      expect(res.headers.get('www-authenticate'), what).to.match(/^Bearer realm=/);
    }
    // A deleted admin's token stops working.
    expect((await client.call('DELETE', `/admin/admins/${id}`)).status).to.equal(204);
    expect((await whoami(good)).status).to.equal(401);
  });

  it('the bootstrap token still works; never a 401 for it when PostgreSQL is down, and a JWT then gets 503', async () => {
    await createViaApi('erin');
    const { token } = (await loginAs('erin', PASSWORD)).body;
    const dead = knexFactory({ client: 'pg', connection: { connectionString: 'postgres://ez:pw@127.0.0.1:1/ez', connectionTimeoutMillis: 2_000 }, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 3_000, log: { error: () => {}, warn: () => {} } });
    const server: Server = createServer(createApiApp({ ...api.deps, knex: dead }).callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const boot = await send<{ actor: { id: string } }>(url, 'GET', '/admin/whoami', undefined, bearer(ADMIN_TOKEN));
      expect(boot.status, boot.text).to.equal(200);
      expect(boot.body.actor.id).to.equal('bootstrap');
      const jwt = await send(url, 'GET', '/admin/whoami', undefined, bearer(token));
      expectError(jwt, 503, 'service_unavailable');
      expect(jwt.text).to.not.contain('127.0.0.1:1');
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await dead.destroy();
    }
  });

  it('passwords and hashes never appear in answers, audit rows or log lines', async () => {
    lines.length = 0;
    const id = await createViaApi('frank', 'admin', 'frank-first-password');
    const hash1 = String((await adminRow('frank')).password_hash);
    const answers: string[] = [];
    const record = <T extends { text: string }>(res: T): T => (answers.push(res.text), res);
    const { token } = record(await loginAs('frank', 'frank-first-password')).body;
    record(await loginAs('frank', 'frank-wrong-password'));
    record(await send(api.url, 'PATCH', `/admin/admins/${id}`, { password: 'frank-second-password' }, bearer(ADMIN_TOKEN)));
    const { token: token2 } = record(await loginAs('frank', 'frank-second-password')).body;
    record(await send(api.url, 'POST', '/admin/me/password', { current_password: 'frank-second-password', new_password: 'frank-third-password' }, bearer(token2)));
    record(await send(api.url, 'GET', '/admin/admins', undefined, bearer(ADMIN_TOKEN)));
    record(await send(api.url, 'GET', `/admin/admins/${id}`, undefined, bearer(ADMIN_TOKEN)));
    record(await send(api.url, 'POST', '/admin/admins', { name: 'frank', password: 'frank-dupe-password', role: 'viewer' }, bearer(ADMIN_TOKEN)));
    const hash3 = String((await adminRow('frank')).password_hash);
    const audit = JSON.stringify(await testEnv().knex('audit_events').select('*'));
    expect(audit).to.contain('admin.password_change');
    expect(lines.length).to.be.above(5);
    const haystacks = { answers: answers.join('\n'), audit, logs: lines.join('') };
    const secrets = ['frank-first-password', 'frank-wrong-password', 'frank-second-password', 'frank-third-password', 'frank-dupe-password', hash1, hash3, hash1.split('$')[5]!, hash3.split('$')[4]!];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const secret of secrets) expect(text.includes(secret), `${where} contains ${secret.slice(0, 12)}…`).to.equal(false);
    }
    expect(haystacks.logs).to.not.contain(token);
  });

  describe('lockout with an injected clock (service)', function () {
    const t0 = new Date('2030-01-01T00:00:00Z');
    let clock = t0;
    const deps = (): LoginDeps => ({
      knex: testEnv().knex,
      nudge: async () => {},
      codec: new AdminTokenCodec(EZ_SECRET, 3_600),
      unknownNames: redisUnknownNameLockout(api.deps.redis),
      now: () => clock,
    });
    const at = (ms: number) => (clock = new Date(t0.getTime() + ms));
    const attempt = async (name: string, password: string) => {
      try {
        return await login(deps(), { name, password });
      } catch (err) {
        return err;
      }
    };

    for (const known of [true, false]) {
      it(`${known ? 'an admin' : 'an unknown name'} is locked for exactly 15 minutes after 5 failures; the lock ends on time`, async () => {
        const name = known ? 'gina' : `nobody-${Date.now()}`;
        if (known) await createAdmin({ knex: testEnv().knex, nudge: async () => {} }, { actor: { type: 'system', id: 'test' } }, { name, password: PASSWORD, role: 'admin' });
        for (let i = 0; i < 4; i++) {
          at(i * 60_000);
          expect(await attempt(name, 'wrong-password!')).to.be.instanceOf(InvalidCredentialsError);
        }
        at(4 * 60_000);
        const locked = await attempt(name, 'wrong-password!');
        expect(locked).to.be.instanceOf(LoginLockedError);
        expect((locked as LoginLockedError).retryAfterSeconds).to.equal(LOGIN_LOCKOUT.lockMs / 1_000);
        at(4 * 60_000 + LOGIN_LOCKOUT.lockMs - 1_000);
        const still = await attempt(name, PASSWORD);
        expect(still).to.be.instanceOf(LoginLockedError);
        expect((still as LoginLockedError).retryAfterSeconds).to.equal(1);
        at(4 * 60_000 + LOGIN_LOCKOUT.lockMs);
        const afterLock = await attempt(name, PASSWORD);
        if (known) expect(afterLock).to.have.property('token').that.is.a('string');
        else expect(afterLock).to.be.instanceOf(InvalidCredentialsError);
      });
    }

    it('failures more than a day apart do not add up', async () => {
      await createAdmin({ knex: testEnv().knex, nudge: async () => {} }, { actor: { type: 'system', id: 'test' } }, { name: 'hank', password: PASSWORD, role: 'viewer' });
      for (let i = 0; i < 4; i++) {
        at(i * 1_000);
        expect(await attempt('hank', 'wrong-password!')).to.be.instanceOf(InvalidCredentialsError);
      }
      at(LOGIN_LOCKOUT.memoryMs + 10_000);
      expect(await attempt('hank', 'wrong-password!')).to.be.instanceOf(InvalidCredentialsError);
      expect(await adminRow('hank')).to.include({ failed_logins: 1, locked_until: null });
    });
  });
});
