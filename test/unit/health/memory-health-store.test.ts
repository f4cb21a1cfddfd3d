import { expect } from 'chai';
import { createHealthStore, MemoryHealthStore, parseStateStoreBackend } from '../../../src/gateway/health/index.js';
import { HealthView } from '../../../src/gateway/health/health-view.js';

describe(MemoryHealthStore.name, () => {
  let now: number;
  let sut: MemoryHealthStore;

  beforeEach(() => {
    now = 1_000_000;
    sut = new MemoryHealthStore({ clock: () => now });
  });

  it('an unknown key is available', () => {
    expect(sut.isAvailable(1)).to.equal(true);
    expect(sut.tryAcquire(1)).to.equal(true);
  });

  it('a failing key leaves rotation, and one probe brings it back', () => {
    for (let i = 0; i < 5; i++) sut.record(1, false);
    expect(sut.isAvailable(1)).to.equal(false);
    expect(sut.inspect(1)).to.include({ breaker: 'open', breakerUntilMs: now + 30_000, available: false });
    now += 30_000;
    expect(sut.isAvailable(1)).to.equal(true);
    expect(sut.tryAcquire(1)).to.equal(true);
    expect(sut.tryAcquire(1)).to.equal(false); // one probe at a time
    expect(sut.isAvailable(1)).to.equal(false);
    sut.record(1, true);
    expect(sut.inspect(1)).to.include({ breaker: 'closed', available: true });
  });

  it('a 429 cools the key for its Retry-After, no longer', async () => {
    await sut.coolDown(2, 5_000);
    expect(sut.isAvailable(2)).to.equal(false);
    expect(sut.inspect(2).coolingUntilMs).to.equal(now + 5_000);
    await sut.coolDown(2, 1_000); // a shorter one does not shorten it
    now += 4_999;
    expect(sut.isAvailable(2)).to.equal(false);
    now += 1;
    expect(sut.isAvailable(2)).to.equal(true);
  });

  it('a ban holds until its end or until lifted', async () => {
    await sut.ban(3, 'upstream 401', now + 60_000);
    expect(sut.inspect(3)).to.include({ available: false });
    expect(sut.inspect(3).ban).to.deep.equal({ reason: 'upstream 401', untilMs: now + 60_000 });
    now += 60_000;
    expect(sut.isAvailable(3)).to.equal(true);
    await sut.ban(3, 'upstream 403', Number.POSITIVE_INFINITY);
    now += 10 * 365 * 86_400_000;
    expect(sut.isAvailable(3)).to.equal(false);
    await sut.unban(3);
    expect(sut.isAvailable(3)).to.equal(true);
  });

  it('tells listeners which key changed', async () => {
    const seen: number[] = [];
    const off = sut.onChange((keyId) => seen.push(keyId));
    for (let i = 0; i < 5; i++) sut.record(4, false);
    await sut.coolDown(5, 1_000);
    off();
    await sut.ban(6, 'x', now + 1);
    expect(seen).to.deep.equal([4, 5]);
  });

  it('the factory follows dp_state_store_backend', () => {
    expect(parseStateStoreBackend('redis')).to.equal('redis');
    expect(parseStateStoreBackend(' Redis ')).to.equal('redis');
    expect(parseStateStoreBackend('memory')).to.equal('memory');
    expect(parseStateStoreBackend(undefined)).to.equal('memory');
    expect(parseStateStoreBackend('bogus')).to.equal('memory');
    expect(createHealthStore({ backend: 'memory' }).backend).to.equal('memory');
    expect(() => createHealthStore({ backend: 'redis' })).to.throw(/needs a Redis connection/);
  });
});

describe(HealthView.name, () => {
  it('merges remote facts last-writer-wins, whatever order they arrive in', () => {
    const a = new HealthView('a');
    const b = new HealthView('b');
    const open = { type: 'breaker' as const, keyId: 1, value: { state: 'open' as const, untilMs: 50_000, reopens: 0, at: 20_000, origin: 'x' } };
    const closed = { type: 'breaker' as const, keyId: 1, value: { state: 'closed' as const, untilMs: 0, reopens: 0, at: 21_000, origin: 'y' } };
    expect(a.apply(open)).to.equal(true);
    expect(a.apply(closed)).to.equal(true);
    expect(b.apply(closed)).to.equal(true);
    expect(b.apply(open)).to.equal(false); // older: ignored
    expect(a.inspect(1, 22_000).breaker).to.equal('closed');
    expect(b.inspect(1, 22_000).breaker).to.equal('closed');
  });

  it('two changes in the same millisecond keep their order', () => {
    const a = new HealthView('a');
    const b = new HealthView('b');
    b.apply(a.ban(1, 'upstream 401', null, 5_000));
    b.apply(a.unban(1, 5_000));
    expect(b.isAvailable(1, 5_000)).to.equal(true);
  });

  it('a lifted ban wins over an older ban and loses to a newer one', () => {
    const sut = new HealthView('a');
    const ban = (at: number, lifted: boolean) => ({ type: 'ban' as const, keyId: 9, value: { reason: 'r', untilMs: null, lifted, at, origin: 'z' } });
    sut.apply(ban(10, false));
    sut.apply(ban(20, true));
    expect(sut.isAvailable(9, 30)).to.equal(true);
    sut.apply(ban(15, false));
    expect(sut.isAvailable(9, 30)).to.equal(true);
    sut.apply(ban(25, false));
    expect(sut.isAvailable(9, 30)).to.equal(false);
  });
});
