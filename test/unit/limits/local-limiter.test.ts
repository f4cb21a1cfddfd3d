import { expect } from 'chai';
import type { AdmitRequest } from '../../../src/gateway/limits/limit-types.js';
import { LocalLimiter, longestWait } from '../../../src/gateway/limits/local-limiter.js';

const base: AdmitRequest = { masterId: 1, masterQps: 0, keyId: 7, keyRpm: 0, keyTpm: 0, estimatedTokens: 0, requestId: 'r' };

describe(LocalLimiter.name, () => {
  it('a 3-per-second master admits 3 in any second, then again once the oldest leaves', () => {
    const sut = new LocalLimiter();
    const req = { ...base, masterQps: 3 };
    const at = (t: number) => sut.admit(req, `m${t}`, t);
    expect([at(0), at(100), at(200)].map((r) => r.ok)).to.deep.equal([true, true, true]);
    expect(at(999)).to.deep.equal({ ok: false, reason: 'master_qps', limit: 3, retryAfterMs: 1 });
    expect(at(500)).to.include({ ok: false, retryAfterMs: 500 });
    expect(at(1_000).ok).to.equal(true);
    expect(at(1_050).ok).to.equal(false);
  });

  it('a refused request consumes nothing', () => {
    const sut = new LocalLimiter();
    const req = { ...base, keyRpm: 2, keyTpm: 100, estimatedTokens: 60 };
    expect(sut.admit(req, 'a', 0).ok).to.equal(true);
    // TPM refuses (60 + 60 > 100); the RPM log must not hold this attempt.
    expect(sut.admit(req, 'b', 10)).to.include({ ok: false, reason: 'key_tpm' });
    expect(sut.admit({ ...req, estimatedTokens: 40 }, 'c', 20).ok).to.equal(true);
    expect(sut.admit({ ...req, estimatedTokens: 0 }, 'd', 30)).to.include({ ok: false, reason: 'key_rpm' });
  });

  it('settle refunds an over-estimate and charges an under-estimate', () => {
    const sut = new LocalLimiter();
    const req = { ...base, keyTpm: 1_000, estimatedTokens: 800 };
    const first = sut.admit(req, 'a', 0);
    if (!first.ok) throw new Error('expected an admission');
    expect(sut.admit({ ...req, estimatedTokens: 300 }, 'b', 10).ok).to.equal(false);
    sut.settle(first.reservation, 100, 20);
    const second = sut.admit({ ...req, estimatedTokens: 300 }, 'c', 30);
    if (!second.ok) throw new Error('expected an admission after the refund');
    sut.settle(second.reservation, 2_000, 40); // used far more than estimated
    expect(sut.admit({ ...req, estimatedTokens: 0 }, 'd', 50)).to.include({ ok: false, reason: 'key_tpm' });
  });

  it(longestWait.name, () => {
    expect(longestWait([])).to.equal(undefined);
    expect(longestWait([{ retryAfterMs: 5, id: 'a' }, { retryAfterMs: 9, id: 'b' }, { retryAfterMs: 9, id: 'c' }])).to.deep.equal({ retryAfterMs: 9, id: 'b' });
  });
});
