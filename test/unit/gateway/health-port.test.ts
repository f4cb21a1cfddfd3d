import { expect } from 'chai';
import { MemoryHealthStore } from '../../../src/gateway/health/index.js';
import { healthPort } from '../../../src/gateway/proxy/wiring.js';
import type { HealthPort } from '../../../src/gateway/proxy/ports.js';
import { createLogger } from '../../../src/lib/logger.js';

describe('HealthPort.acquire (half-open probing)', () => {
  let now: number;
  let store: MemoryHealthStore;
  let sut: HealthPort;

  beforeEach(() => {
    now = 1_000_000;
    store = new MemoryHealthStore({ clock: () => now, breaker: { minRequests: 2, openMs: 1_000, probeTimeoutMs: 5_000 } });
    sut = healthPort(store, createLogger({ level: 'silent' }));
  });

  const openBreaker = () => {
    sut.recordFailure(1, now);
    sut.recordFailure(1, now);
    expect(store.inspect(1, now).breaker).to.equal('open');
  };

  it('a healthy key is always acquired', () => {
    for (let i = 0; i < 3; i++) expect(sut.acquire(1, now)).to.equal(true);
  });

  it('a half-open key lets exactly one request through until the probe reports', () => {
    openBreaker();
    now += 1_000;
    expect(sut.isAvailable(1, now)).to.equal(true); // planned as healthy…
    expect(sut.acquire(1, now)).to.equal(true); // …the first sender claims the probe
    expect(sut.acquire(1, now)).to.equal(false); // the herd behind it skips the key
    expect(sut.acquire(1, now + 10)).to.equal(false);
    sut.recordSuccess(1, now + 20);
    expect(sut.acquire(1, now + 30)).to.equal(true);
    expect(sut.acquire(1, now + 30)).to.equal(true);
  });

  it('a failed probe reopens the breaker; the next half-open period allows one probe again', () => {
    openBreaker();
    now += 1_000;
    expect(sut.acquire(1, now)).to.equal(true);
    sut.recordFailure(1, now);
    expect(store.inspect(1, now).breaker).to.equal('open');
    now += 2_000; // the reopened period is twice as long
    expect(sut.acquire(1, now)).to.equal(true);
    expect(sut.acquire(1, now)).to.equal(false);
  });

  it('a lost probe is given up after probeTimeoutMs', () => {
    openBreaker();
    now += 1_000;
    expect(sut.acquire(1, now)).to.equal(true);
    expect(sut.acquire(1, now + 4_999)).to.equal(false);
    expect(sut.acquire(1, now + 5_000)).to.equal(true);
  });

  it('a probe whose client left before an answer is freed at once', () => {
    openBreaker();
    now += 1_000;
    expect(sut.acquire(1, now)).to.equal(true);
    expect(sut.acquire(1, now + 10)).to.equal(false);
    sut.release(1, now + 20);
    expect(store.inspect(1, now + 20).breaker).to.equal('half_open');
    expect(sut.acquire(1, now + 30)).to.equal(true); // the next request probes
    expect(sut.acquire(1, now + 30)).to.equal(false);
    sut.release(2, now); // a key with no history: nothing to free, nothing created
    expect(sut.acquire(2, now)).to.equal(true);
  });

  it('keys out for other reasons stay a last resort (the planner puts them last)', async () => {
    openBreaker();
    expect(sut.acquire(1, now + 10)).to.equal(true); // open, not probing: nothing to claim
    await store.coolDown(2, 10_000, now);
    expect(sut.isAvailable(2, now)).to.equal(false);
    expect(sut.acquire(2, now)).to.equal(true);
  });
});
