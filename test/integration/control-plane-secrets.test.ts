import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/lib/logger.js';
import { closeRedis, createRedis, waitForRedis } from '../../src/lib/redis.js';
import { ADMIN_TOKEN, startTestApi, type TestApi } from '../api/helpers.js';
import { resetDatabase, testEnv } from '../support/hooks.js';
import { dumpSnapshot, syncNow } from '../support/sync.js';

/**
 * Invariant 6 of DESIGN §9 for the control plane: client keys and upstream secrets appear only in
 * the one-time creation response and the audited reveal — never in logs (at trace level), audit
 * rows, outbox rows, other responses, or any PostgreSQL column other than digests and ciphertext.
 */
describe('control-plane secrets stay secret', function () {
  this.timeout(60_000);
  const lines: string[] = [];
  let api: TestApi;
  let redis: Redis;

  before(async () => {
    await resetDatabase();
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    api = await startTestApi({ queueName: 'secrets', logger: createLogger({ level: 'trace', destination }) });
    redis = createRedis({ url: testEnv().redisUrl, defaulted: false }, 'producer', 'secrets-test');
    await waitForRedis(redis);
  });
  after(async () => {
    await api.close();
    await closeRedis(redis);
  });

  const call = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  };

  it('a master key, a child key and an upstream secret leak nowhere but their creation and the reveal', async () => {
    const upstreamSecret = 'sk-canary-upstream-0123456789abcdefXYZ';
    const responses: string[] = [];
    const master = await call('POST', '/admin/masters', { name: 'canary' });
    expect(master.status).to.equal(201);
    const { id: masterId, key: masterKey } = JSON.parse(master.text) as { id: number; key: string };
    const child = await call('POST', `/admin/masters/${masterId}/keys`, { name: 'c1' });
    expect(child.status).to.equal(201);
    const { id: keyId, key: childKey } = JSON.parse(child.text) as { id: number; key: string };
    const own = await call('POST', '/v1/tokens', { name: 'self' }, masterKey);
    expect(own.status).to.equal(201);
    const ownKey = (JSON.parse(own.text) as { key: string }).key;
    const preset = await call('POST', '/admin/providers/preset', { preset: 'openai', api_key: upstreamSecret });
    expect(preset.status).to.equal(201);
    const apiKeyId = (JSON.parse(preset.text) as { api_key: { id: number } }).api_key.id;

    for (const [method, path, body, token] of [
      ['GET', '/admin/masters'],
      ['GET', `/admin/masters/${masterId}`],
      ['GET', `/admin/masters/${masterId}/keys`],
      ['GET', `/admin/keys/${keyId}`],
      ['PATCH', `/admin/keys/${keyId}`, { name: 'renamed' }],
      ['GET', '/v1/tokens', undefined, masterKey],
      ['GET', '/admin/api-keys'],
      ['GET', `/admin/api-keys/${apiKeyId}`],
      ['PATCH', `/admin/api-keys/${apiKeyId}`, { weight: 2 }],
      ['GET', '/admin/provider-groups'],
      ['GET', '/admin/audit'],
      ['GET', '/admin/sync/status'],
      ['POST', '/admin/masters', { name: 'canary', note: childKey }], // a bad request echoing a key
      ['GET', `/admin/keys/${keyId}?token=${childKey}`],
    ] as Array<[string, string, unknown?, string?]>) {
      responses.push((await call(method, path, body, token)).text);
    }
    const reveal = await call('GET', `/admin/api-keys/${apiKeyId}/reveal`);
    expect(JSON.parse(reveal.text)).to.include({ api_key: upstreamSecret });
    await syncNow(redis);

    const canaries = { masterKey, childKey, ownKey, upstreamSecret };
    const logs = lines.join('');
    const knex = testEnv().knex;
    const tables = ['masters', 'keys', 'api_keys', 'provider_groups', 'audit_events', 'sync_outbox', 'settings'];
    const rows = JSON.stringify(await Promise.all(tables.map((t) => knex(t).select('*'))), (_k, v: unknown) =>
      v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? '<bytes>' : v,
    );
    const snapshot = await dumpSnapshot(redis);
    const redisOutsideProviders = JSON.stringify(Object.entries(snapshot).filter(([k]) => k !== 'config:providers'));
    expect(logs.length, 'the api logged at trace level').to.be.greaterThan(1_000);
    for (const [name, secret] of Object.entries(canaries)) {
      expect(logs, `${name} in logs`).to.not.include(secret);
      expect(rows, `${name} in PostgreSQL rows`).to.not.include(secret);
      expect(redisOutsideProviders, `${name} in Redis outside config:providers`).to.not.include(secret);
      for (const body of responses) expect(body, `${name} in a later response`).to.not.include(secret);
    }
    // The provider snapshot is the one place the gateway reads upstream secrets from (DESIGN §5).
    expect(snapshot['config:providers']?.[String(apiKeyId)]).to.include(upstreamSecret);
    const reveals = await knex('audit_events').where({ action: 'api_key.reveal', object_id: String(apiKeyId) });
    expect(reveals).to.have.length(1);
  });
});
