import { expect } from 'chai';
import { decodeAdmit } from '../../../src/gateway/limits/limiter.js';
import type { AdmitRequest } from '../../../src/gateway/limits/limit-types.js';
import { ADMIT_LUA, SETTLE_LUA } from '../../../src/gateway/limits/scripts.js';
import {
  QPS_WINDOW_MS,
  RPM_WINDOW_MS,
  TPM_LIVE_BUCKETS,
  bucketExpiresAtMs,
  chargeFor,
  logDecision,
  logRetryAfterMs,
  oldestLiveBucket,
  retryAfterSeconds,
  tokenBucketOf,
  tokenDecision,
  tokenRetryAfterMs,
  type TokenBucket,
} from '../../../src/gateway/limits/window.js';

describe('limiter window math', () => {
  describe(logDecision.name, () => {
    const cases: Array<{ name: string; scores: number[]; limit: number; now: number; admit: boolean; live: number; blocking?: number }> = [
      { name: 'an empty log admits', scores: [], limit: 1, now: 5_000, admit: true, live: 0 },
      { name: 'below the limit admits', scores: [4_500, 4_600], limit: 3, now: 5_000, admit: true, live: 2 },
      { name: 'at the limit refuses; the oldest entry decides', scores: [4_500, 4_600, 4_700], limit: 3, now: 5_000, admit: false, live: 3, blocking: 4_500 },
      { name: 'an entry exactly one window old has left', scores: [4_000, 4_600, 4_700], limit: 3, now: 5_000, admit: true, live: 2 },
      { name: 'an entry 1 ms younger than the window still counts', scores: [4_001, 4_600, 4_700], limit: 3, now: 5_000, admit: false, live: 3, blocking: 4_001 },
      { name: 'over the limit (limit lowered): the n−L-th entry decides', scores: [4_100, 4_200, 4_300, 4_400, 4_500], limit: 2, now: 5_000, admit: false, live: 5, blocking: 4_400 },
      { name: 'limit 0 means unlimited', scores: [4_900, 4_950], limit: 0, now: 5_000, admit: true, live: 2 },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const sut = logDecision(c.scores, c.limit, c.now, QPS_WINDOW_MS);
        expect(sut.admit).to.equal(c.admit);
        expect(sut.live).to.equal(c.live);
        if (!sut.admit) expect(sut.blockingScoreMs).to.equal(c.blocking);
      });
    }
  });

  describe(logRetryAfterMs.name, () => {
    const cases: Array<[blocking: number, window: number, now: number, expected: number]> = [
      [4_500, QPS_WINDOW_MS, 5_000, 500],
      [4_001, QPS_WINDOW_MS, 5_000, 1],
      [4_000, QPS_WINDOW_MS, 5_000, 1], // already due: never 0
      [0, RPM_WINDOW_MS, 30_000, 30_000],
      [29_999, RPM_WINDOW_MS, 30_000, 59_999],
    ];
    for (const [blocking, window, now, expected] of cases) {
      it(`entry at ${blocking}, window ${window}, now ${now} → ${expected} ms`, () => {
        expect(logRetryAfterMs(blocking, window, now)).to.equal(expected);
      });
    }
  });

  describe('token buckets', () => {
    it('a bucket counts for between 60 and 61 s', () => {
      const admittedAt = 10_500; // bucket 10
      expect(tokenBucketOf(admittedAt)).to.equal(10);
      expect(bucketExpiresAtMs(10)).to.equal(71_000);
      expect(oldestLiveBucket(admittedAt + 60_000)).to.be.at.most(10); // still counted a minute later
      expect(oldestLiveBucket(71_000)).to.equal(11); // gone at the start of bucket 71
      expect(TPM_LIVE_BUCKETS).to.equal(61);
    });
  });

  describe(chargeFor.name, () => {
    const cases: Array<[estimated: number, limit: number, expected: number]> = [
      [100, 1_000, 100],
      [99.2, 1_000, 100],
      [5_000, 1_000, 1_000], // capped: admitted into an empty window, never refused forever
      [5_000, 0, 5_000],
      [-3, 1_000, 0],
      [Number.NaN, 1_000, 0],
    ];
    for (const [estimated, limit, expected] of cases) {
      it(`estimate ${estimated}, limit ${limit} → ${expected}`, () => expect(chargeFor(estimated, limit)).to.equal(expected));
    }
  });

  describe(tokenDecision.name, () => {
    const now = 100_250; // bucket 100; oldest live bucket 40
    const cases: Array<{ name: string; buckets: TokenBucket[]; charge: number; limit: number; admit: boolean; used: number; retryAfterMs?: number }> = [
      { name: 'an empty window admits the full limit', buckets: [], charge: 1_000, limit: 1_000, admit: true, used: 0 },
      { name: 'fits exactly', buckets: [[90, 600]], charge: 400, limit: 1_000, admit: true, used: 600 },
      { name: 'one token over refuses until the bucket expires', buckets: [[90, 600]], charge: 401, limit: 1_000, admit: false, used: 600, retryAfterMs: 151_000 - now },
      { name: 'expired buckets do not count', buckets: [[39, 1_000], [95, 100]], charge: 900, limit: 1_000, admit: true, used: 100 },
      {
        name: 'waits only for as many old buckets as needed',
        buckets: [[97, 300], [41, 300], [60, 300]],
        charge: 500,
        limit: 1_000,
        admit: false,
        used: 900,
        retryAfterMs: bucketExpiresAtMs(60) - now,
      },
      { name: 'an overshoot from settle refuses even a zero charge', buckets: [[99, 1_200]], charge: 0, limit: 1_000, admit: false, used: 1_200, retryAfterMs: bucketExpiresAtMs(99) - now },
      { name: 'limit 0 means unlimited', buckets: [[99, 1e9]], charge: 5, limit: 0, admit: true, used: 1e9 },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const sut = tokenDecision(c.buckets, c.charge, c.limit, now);
        expect(sut.admit).to.equal(c.admit);
        expect(sut.used).to.equal(c.used);
        if (!sut.admit) expect(sut.retryAfterMs).to.equal(c.retryAfterMs);
      });
    }

    it('retry-after is never 0 and never more than one window + a bucket', () => {
      expect(tokenRetryAfterMs([[40, 1_000]], 1, 1_000, 100_999)).to.equal(1);
      expect(tokenRetryAfterMs([[100, 1_000]], 1, 1_000, 100_000)).to.equal(61_000);
    });
  });

  describe(retryAfterSeconds.name, () => {
    const cases: Array<[ms: number, seconds: number]> = [
      [1, 1],
      [999, 1],
      [1_000, 1],
      [1_001, 2],
      [59_999, 60],
      [0, 1],
      [-5, 1],
      [Number.POSITIVE_INFINITY, 1],
    ];
    for (const [ms, seconds] of cases) it(`${ms} ms → Retry-After: ${seconds}`, () => expect(retryAfterSeconds(ms)).to.equal(seconds));
  });

  describe(decodeAdmit.name, () => {
    const req: AdmitRequest = { masterId: 1, masterQps: 10, keyId: 2, keyRpm: 100, keyTpm: 1_000, estimatedTokens: 50, requestId: 'r1' };

    it('an admission carries the window time and the charged bucket', () => {
      const sut = decodeAdmit([1, 1_700_000_000_123], req, 'm', 50);
      expect(sut).to.deep.equal({
        ok: true,
        reservation: { requestId: 'r1', masterId: 1, keyId: 2, member: 'm', atMs: 1_700_000_000_123, tpmBucket: 1_700_000_000, chargedTokens: 50, degraded: false },
      });
    });

    it('several refused checks report the longest wait', () => {
      const now = 1_000_000;
      const sut = decodeAdmit([0, now, now - 900, now - 1_000, 0, -1, -1, 0], req, 'm', 50);
      expect(sut).to.deep.equal({ ok: false, reason: 'key_rpm', limit: 100, retryAfterMs: 59_000 });
    });

    it('a TPM refusal is computed from the live buckets the script returned', () => {
      const now = 100_250;
      const sut = decodeAdmit([0, now, -1, -1, 1, -1, -1, 0, 90, 980], req, 'm', 50);
      expect(sut).to.deep.equal({ ok: false, reason: 'key_tpm', limit: 1_000, retryAfterMs: bucketExpiresAtMs(90) - now });
    });
  });

  it('the Lua scripts use the same windows as window.ts', () => {
    expect(ADMIT_LUA).to.include(`blocking(KEYS[1], qps, ${QPS_WINDOW_MS})`);
    expect(ADMIT_LUA).to.include(`blocking(KEYS[2], rpm, ${RPM_WINDOW_MS})`);
    expect(ADMIT_LUA).to.include(`local oldest = bucket - ${TPM_LIVE_BUCKETS - 1}`);
    expect(SETTLE_LUA).to.include(`b >= current - ${TPM_LIVE_BUCKETS - 1}`);
  });
});
