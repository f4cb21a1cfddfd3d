import { expect } from 'chai';
import type { WebhookDto } from '../../src/domain/webhooks.service.js';
import { SecretBox } from '../../src/lib/secret-box.js';
import { testEnv } from '../support/hooks.js';
import { EZ_SECRET, useTestApi, type ErrorJson } from './helpers.js';

/** `webhooks.secret_last4` (docs/webhooks.md "Masked secrets"): reads show the stored last 4, never decrypting. */
describe('/admin/webhooks masked secrets', function () {
  const api = useTestApi<ErrorJson>('webhooks-last4-test');
  const { call } = api;
  const knex = () => testEnv().knex;
  const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const list = async () => (await call<{ data: WebhookDto[] }>('GET', '/admin/webhooks')).body.data.map((w) => [w.id, w.secret]);
  const last4 = async (id: number) => ((await knex()('webhooks').where({ id }).first('secret_last4')) as { secret_last4: string | null }).secret_last4;
  /** Overwrites the sealed secret with bytes that cannot be opened. */
  const corrupt = (id: number) => knex()('webhooks').where({ id }).update({ secret_ciphertext: Buffer.from('not a ciphertext at all') });

  it('create and rotate store the last 4; a row whose ciphertext is corrupted still lists and reads with them', async function () {
    const created = await call<WebhookDto>('POST', '/admin/webhooks', { url: 'http://127.0.0.1:9/a', secret: SECRET });
    expect(created.status, created.text).to.equal(201);
    const id = created.body.id;
    expect(await last4(id)).to.equal('LaSw');

    await corrupt(id);
    expect(await list()).to.deep.equal([[id, 'whsec_…LaSw']]);
    expect((await call<WebhookDto>('GET', `/admin/webhooks/${id}`)).body.secret).to.equal('whsec_…LaSw');
    const patched = await call<WebhookDto>('PATCH', `/admin/webhooks/${id}`, { description: 'still readable' });
    expect(patched.body).to.include({ description: 'still readable', secret: 'whsec_…LaSw' });

    const rotated = await call<WebhookDto>('POST', `/admin/webhooks/${id}/rotate-secret`);
    expect(rotated.status, rotated.text).to.equal(200);
    const tail = rotated.body.secret.slice(-4);
    expect(await last4(id)).to.equal(tail);
    expect(await list()).to.deep.equal([[id, `whsec_…${tail}`]]);
  });

  it('a row written before secret_last4 existed is decrypted once and backfilled; an unreadable one shows ????', async function () {
    const box = new SecretBox(EZ_SECRET);
    const legacy = async (url: string) => {
      const [row] = (await knex()('webhooks').insert({ url, events: [], secret_ciphertext: Buffer.alloc(1), secret_nonce: Buffer.alloc(1) }).returning('id')) as Array<{ id: number }>;
      const sealed = box.seal(SECRET, SecretBox.aad('webhooks', row!.id, 'secret'));
      await knex()('webhooks').where('id', row!.id).update({ secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, key_version: sealed.keyVersion });
      return row!.id;
    };
    const readable = await legacy('http://127.0.0.1:9/old');
    const broken = await legacy('http://127.0.0.1:9/broken');
    await corrupt(broken);
    const before = ((await knex()('webhooks').where({ id: readable }).first('updated_at')) as { updated_at: Date }).updated_at;

    expect(await list()).to.deep.equal([
      [readable, 'whsec_…LaSw'],
      [broken, 'whsec_…????'],
    ]);
    expect(await last4(readable)).to.equal('LaSw');
    expect(await last4(broken)).to.equal(null);
    // The backfill is bookkeeping, not an admin change.
    expect(((await knex()('webhooks').where({ id: readable }).first('updated_at')) as { updated_at: Date }).updated_at.getTime()).to.equal(before.getTime());

    // From now on the stored value answers, even if the ciphertext goes bad.
    await corrupt(readable);
    expect((await call<WebhookDto>('GET', `/admin/webhooks/${readable}`)).body.secret).to.equal('whsec_…LaSw');
  });
});
