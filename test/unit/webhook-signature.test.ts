import { expect } from 'chai';
import { secretProblem, signingKey, signWebhook, verifyWebhook, webhookHeaders } from '../../src/domain/webhook-signature.js';
import { checkWebhookUrl } from '../../src/domain/webhook-url.js';

// The Standard Webhooks specification's published test vector (standard-webhooks/standard-webhooks,
// libraries/javascript/src/webhook.test.ts "sign function works", and every reference library).
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('webhook signature (Standard Webhooks)', () => {
  it('reproduces the specification test vector', () => {
    expect(signWebhook(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body)).to.equal(SPEC.signature);
    expect(signWebhook(SPEC.secret, SPEC.id, SPEC.timestamp, Buffer.from(SPEC.body))).to.equal(SPEC.signature);
  });

  it('builds the three headers with the timestamp in whole seconds', () => {
    expect(webhookHeaders(SPEC.secret, SPEC.id, new Date(SPEC.timestamp * 1_000 + 999), SPEC.body)).to.deep.equal({
      'webhook-id': SPEC.id,
      'webhook-timestamp': String(SPEC.timestamp),
      'webhook-signature': SPEC.signature,
    });
  });

  it('whsec_ secrets sign with the decoded bytes; raw secrets with their UTF-8 bytes', () => {
    expect(signingKey(SPEC.secret)).to.deep.equal(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'));
    expect(signingKey('a-raw-secret-of-some-length')).to.deep.equal(Buffer.from('a-raw-secret-of-some-length', 'utf8'));
    // A raw secret equals the whsec_ form of its bytes, which is what a receiver's library is given.
    const raw = 'a-raw-secret-of-some-length';
    const asWhsec = `whsec_${Buffer.from(raw).toString('base64')}`;
    expect(signWebhook(raw, 'msg_1', 1, '{}')).to.equal(signWebhook(asWhsec, 'msg_1', 1, '{}'));
    expect(signWebhook(raw, 'msg_1', 1, '{}')).not.to.equal(signWebhook('a-raw-secret-of-some-lengtH', 'msg_1', 1, '{}'));
  });

  it('verifies like a receiver: signature, tolerance, multiple signatures, tampering', () => {
    const now = new Date(SPEC.timestamp * 1_000);
    const headers = { 'webhook-id': SPEC.id, 'webhook-timestamp': String(SPEC.timestamp), 'webhook-signature': SPEC.signature };
    expect(verifyWebhook(SPEC.secret, headers, SPEC.body, { now })).to.deep.equal({ ok: true });
    expect(verifyWebhook(SPEC.secret, { ...headers, 'webhook-signature': `v1,bm9wZQ== v2,xyz ${SPEC.signature}` }, SPEC.body, { now })).to.deep.equal({ ok: true });
    expect(verifyWebhook(SPEC.secret, headers, '{"test": 2432232315}', { now }).ok).to.equal(false);
    expect(verifyWebhook(SPEC.secret, { ...headers, 'webhook-id': 'msg_other' }, SPEC.body, { now }).ok).to.equal(false);
    expect(verifyWebhook('whsec_' + Buffer.alloc(24, 1).toString('base64'), headers, SPEC.body, { now }).ok).to.equal(false);
    expect(verifyWebhook(SPEC.secret, headers, SPEC.body, { now: new Date(now.getTime() + 301_000) }).ok).to.equal(false);
    expect(verifyWebhook(SPEC.secret, { ...headers, 'webhook-timestamp': 'soon' }, SPEC.body, { now }).ok).to.equal(false);
    expect(verifyWebhook(SPEC.secret, { 'webhook-id': SPEC.id }, SPEC.body, { now }).ok).to.equal(false);
  });

  it('secretProblem accepts whsec_ keys of 16–64 bytes and raw secrets of 16–256 characters', () => {
    expect(secretProblem(SPEC.secret)).to.equal(undefined);
    expect(secretProblem(`whsec_${Buffer.alloc(64).toString('base64')}`)).to.equal(undefined);
    expect(secretProblem(`whsec_${Buffer.alloc(8).toString('base64')}`)).to.match(/decode to/);
    expect(secretProblem(`whsec_${Buffer.alloc(65).toString('base64')}`)).to.match(/decode to/);
    expect(secretProblem('whsec_not base64!')).to.match(/base64/);
    expect(secretProblem('x'.repeat(16))).to.equal(undefined);
    expect(secretProblem('x'.repeat(15))).to.match(/16–256/);
    expect(secretProblem('x'.repeat(257))).to.match(/16–256/);
  });
});

describe('checkWebhookUrl', () => {
  const ok: Array<[string, string]> = [
    ['https://hooks.example.com/ez', 'https://hooks.example.com/ez'],
    ['https://hooks.example.com/ez/', 'https://hooks.example.com/ez/'],
    ['HTTPS://Hooks.Example.com:443/a?token=abc', 'https://hooks.example.com/a?token=abc'],
    ['http://127.0.0.1:9000/hook', 'http://127.0.0.1:9000/hook'],
    ['http://10.0.0.5/hook', 'http://10.0.0.5/hook'],
    ['http://[::1]:8080/', 'http://[::1]:8080/'],
  ];
  for (const [input, url] of ok) it(`accepts ${input}`, () => expect(checkWebhookUrl(input)).to.deep.equal({ ok: true, url }));

  const refused = [
    '',
    'ftp://example.com/',
    'example.com/hook',
    'http:///hook',
    'https://user:pass@example.com/',
    'https://example.com/#frag',
    'https://exa mple.com/',
    'http://169.254.169.254/latest/meta-data',
    'http://2852039166/',
    'http://[::ffff:169.254.169.254]/',
    'http://[fd00:ec2::254]/',
    'http://100.100.100.200/',
    'http://metadata.google.internal/computeMetadata/v1/',
    `https://example.com/${'a'.repeat(2_100)}`,
  ];
  for (const input of refused) it(`refuses ${input.slice(0, 60) || '(empty)'}`, () => expect(checkWebhookUrl(input).ok).to.equal(false));
});

describe('webhook connect-time address guard', () => {
  it('refuses metadata addresses in the forms a resolver returns', async () => {
    const { refusedAddress } = await import('../../src/domain/webhook-delivery.js');
    for (const address of ['169.254.169.254', '169.254.0.1', '::ffff:169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '64:ff9b::a9fe:a9fe']) {
      expect(refusedAddress(address), address).to.equal(true);
    }
    for (const address of ['127.0.0.1', '10.0.0.1', '::1', '93.184.216.34', '2606:4700::1111']) expect(refusedAddress(address), address).to.equal(false);
  });
});
