import { expect } from 'chai';
import type { FeaturesDto } from '../../src/domain/features.service.js';
import { testEnv } from '../support/hooks.js';
import { outboxEntries } from './fixtures.js';
import { fields, useTestApi, type ErrorJson } from './helpers.js';

const DEFAULTS = { dp_state_store_backend: 'memory', dp_claude_cross_upstream: 'false', dp_gemini_cross_upstream: 'false', log_request_body_enabled: 'false' };

describe('/admin/features', function () {
  const api = useTestApi<ErrorJson>('features-test');
  const { call } = api;
  const put = (flags: unknown) => call<FeaturesDto>('PUT', '/admin/features', { flags });
  const outbox = outboxEntries;
  const stored = async () => ((await testEnv().knex('settings').where('key', 'features').first()) as { value: unknown } | undefined)?.value;

  it('GET returns the built-in defaults when nothing was set', async function () {
    const res = await call<FeaturesDto>('GET', '/admin/features');
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ flags: DEFAULTS, defaults: DEFAULTS, overrides: {}, updated_at: null, updated_by: null });
  });

  it('PUT stringifies values, persists them, and records a features outbox row and audit event', async function () {
    const res = await put({ log_request_body_enabled: true, dp_state_store_backend: 'redis', max_batch: 25, banner: 'hello' });
    expect(res.status).to.equal(200);
    const flags = { ...DEFAULTS, log_request_body_enabled: 'true', dp_state_store_backend: 'redis', max_batch: '25', banner: 'hello' };
    expect(res.body.flags).to.deep.equal(flags);
    expect(res.body.overrides).to.deep.equal({ log_request_body_enabled: 'true', dp_state_store_backend: 'redis', max_batch: '25', banner: 'hello' });
    expect(res.body.updated_by).to.equal('admin:bootstrap');
    expect(res.body.updated_at).to.match(/^\d{4}-/);
    expect(await stored()).to.deep.equal(res.body.overrides);
    expect((await call<FeaturesDto>('GET', '/admin/features')).body).to.deep.equal(res.body);
    expect(await outbox()).to.deep.equal([{ resource: 'features', resource_id: null, action: 'upsert' }]);
    const events = await testEnv().knex('audit_events').select('actor_id', 'action', 'object_type', 'object_id', 'metadata');
    expect(events).to.deep.equal([
      {
        actor_id: 'bootstrap',
        action: 'features.update',
        object_type: 'features',
        object_id: null,
        metadata: { set: { log_request_body_enabled: 'true', dp_state_store_backend: 'redis', max_batch: '25', banner: 'hello' }, removed: [] },
      },
    ]);
  });

  it('PUT merges: flags not named keep their value; null removes admin flags and reverts built-ins', async function () {
    await put({ dp_claude_cross_upstream: 'true', a_flag: 'x', b_flag: false });
    const res = await put({ a_flag: null, dp_claude_cross_upstream: null, c_flag: 1.5, missing_flag: null });
    expect(res.status).to.equal(200);
    expect(res.body.flags).to.deep.equal({ ...DEFAULTS, b_flag: 'false', c_flag: '1.5' });
    expect(res.body.overrides).to.deep.equal({ b_flag: 'false', c_flag: '1.5' });
    const events = await testEnv().knex('audit_events').select('metadata').orderBy('id');
    expect(events[1]).to.deep.equal({ metadata: { set: { c_flag: '1.5' }, removed: ['a_flag', 'dp_claude_cross_upstream'] } });
    expect(await outbox()).to.have.length(2);
  });

  it('refuses bad flag names and values of known flags, naming body.flags.<name>, and writes nothing', async function () {
    const res = await put({ 'Bad-Name': 'x', '9lives': 'x', dp_state_store_backend: 'disk', dp_claude_cross_upstream: 'yes', log_request_body_enabled: 1, fine: 'ok' });
    expect(res.status).to.equal(400);
    const body = res.body as unknown as ErrorJson;
    expect(body.error.code).to.equal('validation_failed');
    expect(fields(body)).to.have.members([
      'body.flags.Bad-Name',
      'body.flags.9lives',
      'body.flags.dp_state_store_backend',
      'body.flags.dp_claude_cross_upstream',
      'body.flags.log_request_body_enabled',
    ]);
    expect(body.error.details!.find((d) => d.field === 'body.flags.dp_state_store_backend')!.message).to.contain('memory, redis');
    expect((await put({ ['x'.repeat(65)]: 'a' })).status).to.equal(400);
    expect(await stored()).to.equal(undefined);
    expect(await outbox()).to.have.length(0);
  });

  it('refuses wrong shapes: missing flags, non-object flags, nested values, unknown fields', async function () {
    const missing = await call('PUT', '/admin/features', {});
    expect(fields(missing.body)).to.deep.equal(['body.flags']);
    const notObject = await call('PUT', '/admin/features', { flags: ['a'] });
    expect(fields(notObject.body)).to.deep.equal(['body.flags']);
    const nested = await call('PUT', '/admin/features', { flags: { a: { b: 1 }, c: [1] } });
    expect(fields(nested.body)).to.have.members(['body.flags.a', 'body.flags.c']);
    const tooLong = await call('PUT', '/admin/features', { flags: { a: 'x'.repeat(1_025) } });
    expect(fields(tooLong.body)).to.deep.equal(['body.flags.a']);
    const unknown = await call('PUT', '/admin/features', { flags: {}, mode: 'replace' });
    expect(unknown.status).to.equal(400);
    expect(unknown.body.error.details![0]!.message).to.contain('mode');
    expect(await outbox()).to.have.length(0);
  });

  it('accepts booleans given as the strings "true"/"false" for built-in boolean flags', async function () {
    const res = await put({ dp_claude_cross_upstream: 'true', log_request_body_enabled: false });
    expect(res.status).to.equal(200);
    expect(res.body.flags).to.include({ dp_claude_cross_upstream: 'true', log_request_body_enabled: 'false' });
  });
});
