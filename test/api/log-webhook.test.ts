import { expect } from 'chai';
import type { LogWebhookDto } from '../../src/domain/log-webhook.service.js';
import { testEnv } from '../support/hooks.js';
import { expectError, expectFieldError, useTestApi, type ErrorJson } from './helpers.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const VALID = {
  enabled: true,
  url: 'https://hooks.example.com/ez-api/T0KEN?sig=abc',
  secret: SECRET,
  error_count_threshold: 5,
  window_seconds: 300,
  status_code_threshold: 500,
  error_message_match: 'timed out',
  cooldown_seconds: 600,
};

describe('/admin/log-webhook', function () {
  const api = useTestApi<ErrorJson>('log-webhook-test');
  const { call, req } = api;
  const put = (body: unknown) => call<LogWebhookDto>('PUT', '/admin/log-webhook', body);
  const get = () => call<LogWebhookDto>('GET', '/admin/log-webhook');
  const stored = async () => ((await testEnv().knex('settings').where('key', 'log_webhook').first()) as { value: Record<string, unknown> } | undefined)?.value;

  it('GET shows the defaults before anything is configured', async function () {
    const res = await get();
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({
      configured: false,
      enabled: false,
      url: null,
      secret_set: false,
      error_count_threshold: 10,
      window_seconds: 300,
      status_code_threshold: 500,
      error_message_match: null,
      error_message_match_type: 'substring',
      cooldown_seconds: 900,
      disabled_reason: null,
      last_fired_at: null,
      last_event_id: null,
      updated_at: null,
      updated_by: null,
    });
  });

  it('PUT stores the configuration with the secret sealed; GET shows secret_set and never the secret', async function () {
    const res = await put(VALID);
    expect(res.status, res.text).to.equal(200);
    expect(res.body).to.include({ configured: true, enabled: true, url: VALID.url, secret_set: true, error_message_match: 'timed out', updated_by: 'admin:bootstrap' });
    expect(res.body).not.to.have.property('secret');
    expect(res.text).not.to.contain('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');

    const again = await get();
    expect(again.body).to.deep.equal(res.body);
    expect(again.text).not.to.contain('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');

    const value = await stored();
    expect(JSON.stringify(value)).not.to.contain('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect(value?.secret).to.have.keys('ciphertext', 'nonce', 'key_version');

    const events = (await testEnv().knex('audit_events').select('action', 'object_type', 'metadata')) as Array<{ action: string; object_type: string; metadata: Record<string, unknown> }>;
    expect(events).to.have.length(1);
    expect(events[0]).to.deep.include({ action: 'log_webhook.update', object_type: 'log_webhook' });
    expect(events[0]!.metadata).to.deep.include({ enabled: true, url_origin: 'https://hooks.example.com', secret_changed: true, error_count_threshold: 5 });
    // No secret, and not the URL's path or query (they often hold tokens).
    expect(JSON.stringify(events[0]!.metadata)).not.to.match(/MfKQ9|T0KEN|sig=abc/);
  });

  it('PUT without a secret keeps the stored one; defaults fill optional fields', async function () {
    await put(VALID);
    const before = await stored();
    const { secret: _secret, status_code_threshold: _s, error_message_match: _m, cooldown_seconds: _c, ...rest } = VALID;
    const res = await put({ ...rest, enabled: false });
    expect(res.status, res.text).to.equal(200);
    expect(res.body).to.include({ enabled: false, secret_set: true, status_code_threshold: 500, error_message_match: null, cooldown_seconds: 900 });
    expect((await stored())?.secret).to.deep.equal(before?.secret);
    const events = (await testEnv().knex('audit_events').orderBy('id').select('metadata')) as Array<{ metadata: Record<string, unknown> }>;
    expect(events[1]?.metadata.secret_changed).to.equal(false);
  });

  it('the first PUT needs a secret', async function () {
    const { secret: _secret, ...noSecret } = VALID;
    expectFieldError(await put(noSecret), 'body.secret');
    expect(await stored()).to.equal(undefined);
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['a non-http url', { url: 'ftp://hooks.example.com/x' }, 'body.url'],
    ['a url without a host', { url: 'https:///x' }, 'body.url'],
    ['a url with credentials', { url: 'https://a:b@hooks.example.com/' }, 'body.url'],
    ['a metadata url', { url: 'http://169.254.169.254/latest/meta-data/' }, 'body.url'],
    ['a metadata url in another spelling', { url: 'http://0xA9FEA9FE/' }, 'body.url'],
    ['a metadata name', { url: 'http://metadata.google.internal/' }, 'body.url'],
    ['a url that is not a string', { url: 42 }, 'body.url'],
    ['a threshold of 0', { error_count_threshold: 0 }, 'body.error_count_threshold'],
    ['a fractional threshold', { error_count_threshold: 1.5 }, 'body.error_count_threshold'],
    ['a window under 10 s', { window_seconds: 9 }, 'body.window_seconds'],
    ['a window over a day', { window_seconds: 86_401 }, 'body.window_seconds'],
    ['a status threshold under 400', { status_code_threshold: 399 }, 'body.status_code_threshold'],
    ['a status threshold over 599', { status_code_threshold: 600 }, 'body.status_code_threshold'],
    ['a cooldown under a minute', { cooldown_seconds: 10 }, 'body.cooldown_seconds'],
    ['an unsafe regex', { error_message_match: '(a+)+$', error_message_match_type: 'regex' }, 'body.error_message_match'],
    ['an invalid regex', { error_message_match: '([', error_message_match_type: 'regex' }, 'body.error_message_match'],
    ['an unknown match type', { error_message_match_type: 'glob' }, 'body.error_message_match_type'],
    ['a short raw secret', { secret: 'short' }, 'body.secret'],
    ['a bad whsec_ secret', { secret: 'whsec_!!!' }, 'body.secret'],
    ['an unknown field', { colour: 'red' }, 'body'],
  ];
  for (const [name, change, field] of bad) {
    it(`refuses ${name} with 400 naming ${field}, and writes nothing`, async function () {
      const res = await put({ ...VALID, ...change });
      expectFieldError(res, field);
      if (name === 'an unknown field') expect(JSON.stringify((res.body as unknown as ErrorJson).error.details)).to.contain('colour');
      expect(await stored()).to.equal(undefined);
      expect(await testEnv().knex('audit_events').select('id')).to.deep.equal([]);
    });
  }

  for (const missing of ['enabled', 'url', 'error_count_threshold', 'window_seconds'] as const) {
    it(`refuses a body without ${missing}`, async function () {
      const { [missing]: _gone, ...rest } = VALID;
      expectFieldError(await put(rest), `body.${missing}`);
    });
  }

  it('refuses a missing body and a non-object body', async function () {
    expectFieldError(await call('PUT', '/admin/log-webhook'), 'body');
    expectFieldError(await put([VALID]), 'body');
  });

  it('reports every bad field at once (url and secret)', async function () {
    const res = await put({ ...VALID, url: 'http://169.254.169.254/', secret: 'short' });
    expectFieldError(res, 'body.url');
    expectFieldError(res, 'body.secret');
  });

  it('needs admin credentials', async function () {
    expectError(await req('GET', '/admin/log-webhook', { token: null }), 401, 'unauthorized');
    expectError(await req('PUT', '/admin/log-webhook', { token: 'wrong', body: VALID }), 401, 'unauthorized');
  });

  it('is in /openapi.json without a secret in the response schema', async function () {
    const doc = (await call<{ paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, { properties: Record<string, unknown> }> } }>('GET', '/openapi.json')).body;
    expect(doc.paths['/admin/log-webhook']).to.have.keys('get', 'put');
    expect(doc.components.schemas.LogWebhook?.properties).not.to.have.property('secret');
    expect(doc.components.schemas.LogWebhookUpdate?.properties).to.have.property('secret');
  });
});
