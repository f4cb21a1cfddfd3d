import { expect } from 'chai';
import {
  CLOSED,
  DEFAULT_BREAKER_CONFIG,
  breakerAllows,
  breakerAttempt,
  breakerResult,
  classifyUpstream,
  openDurationMs,
  parseRetryAfterMs,
  type BreakerState,
} from '../../../src/gateway/health/breaker.js';

/** Feeds outcomes ('s' success, 'f' failure) at the given times into a closed breaker. */
function feed(outcomes: string, times: number[], start: BreakerState = CLOSED): BreakerState {
  let state = start;
  [...outcomes].forEach((o, i) => {
    state = breakerResult(state, o === 's', times[i] ?? 0);
  });
  return state;
}

describe('circuit breaker', () => {
  describe('closed → open', () => {
    const cases: Array<{ name: string; outcomes: string; times?: number[]; opens: boolean }> = [
      { name: '4 failures out of 4 are too few requests to judge', outcomes: 'ffff', opens: false },
      { name: '5 failures out of 5 open', outcomes: 'fffff', opens: true },
      { name: 'exactly 50 % of 6 opens', outcomes: 'sssfff', opens: true },
      { name: '2 of 5 (40 %) stays closed', outcomes: 'sssff', opens: false },
      { name: '3 of 5 (60 %) opens', outcomes: 'ssfff', opens: true },
      { name: 'successes older than the window no longer dilute', outcomes: 'ssssssfffff', times: [0, 0, 0, 0, 0, 0, 31_000, 31_000, 31_000, 31_000, 31_000], opens: true },
      { name: 'failures older than the window are forgotten', outcomes: 'ffffsf', times: [0, 0, 0, 0, 31_000, 31_000], opens: false },
      { name: 'failures spread inside the window still count', outcomes: 'fffff', times: [0, 7_000, 14_000, 21_000, 29_999], opens: true },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const times = c.times ?? [...c.outcomes].map((_, i) => 1_000 + i);
        expect(feed(c.outcomes, times).kind).to.equal(c.opens ? 'open' : 'closed');
      });
    }

    it('3 failures then 2 after 31 s: only 2 are in the window, too few to open', () => {
      expect(feed('fffff', [0, 0, 0, 31_000, 31_000]).kind).to.equal('closed');
    });
  });

  describe('open → half_open → closed / open', () => {
    const opened = feed('fffff', [0, 0, 0, 0, 10_000]); // opens at 10 s for 30 s

    it('refuses requests for 30 s, then lets exactly one probe through', () => {
      expect(opened).to.deep.equal({ kind: 'open', untilMs: 40_000, reopens: 0 });
      expect(breakerAllows(opened, 39_999)).to.equal(false);
      expect(breakerAllows(opened, 40_000)).to.equal(true);
      const probe = breakerAttempt(opened, 40_000);
      expect(probe.allowed).to.equal(true);
      expect(probe.state).to.deep.equal({ kind: 'half_open', reopens: 0, probeSinceMs: 40_000 });
      expect(breakerAttempt(probe.state, 40_001).allowed).to.equal(false);
      expect(breakerAllows(probe.state, 40_001)).to.equal(false);
    });

    it('a lost probe frees the slot after probeTimeoutMs', () => {
      const { state } = breakerAttempt(opened, 40_000);
      expect(breakerAllows(state, 40_000 + DEFAULT_BREAKER_CONFIG.probeTimeoutMs)).to.equal(true);
    });

    it('a successful probe closes with a fresh window', () => {
      const { state } = breakerAttempt(opened, 40_000);
      const closed = breakerResult(state, true, 40_500);
      expect(closed).to.deep.equal(CLOSED);
      expect(breakerResult(closed, false, 40_600).kind).to.equal('closed');
    });

    it('failed probes reopen for 60 s, 120 s, 240 s, then 300 s at most', () => {
      let state: BreakerState = opened;
      let now = 40_000;
      const periods: number[] = [];
      for (let i = 0; i < 5; i++) {
        state = breakerAttempt(state, now).state;
        state = breakerResult(state, false, now);
        if (state.kind !== 'open') throw new Error('expected open');
        periods.push(state.untilMs - now);
        now = state.untilMs;
      }
      expect(periods).to.deep.equal([60_000, 120_000, 240_000, 300_000, 300_000]);
    });

    it('results of requests sent before the breaker opened change nothing', () => {
      expect(breakerResult(opened, true, 20_000)).to.equal(opened);
      expect(breakerResult(opened, false, 20_000)).to.equal(opened);
    });
  });

  describe(openDurationMs.name, () => {
    const cases: Array<[reopens: number, ms: number]> = [
      [0, 30_000],
      [1, 60_000],
      [2, 120_000],
      [3, 240_000],
      [4, 300_000],
      [50, 300_000],
    ];
    for (const [reopens, ms] of cases) it(`${reopens} reopens → ${ms} ms`, () => expect(openDurationMs(reopens)).to.equal(ms));
  });

  describe(classifyUpstream.name, () => {
    const cases: Array<[status: number | null, verdict: string]> = [
      [null, 'failure'],
      [200, 'success'],
      [400, 'success'],
      [404, 'success'],
      [401, 'unauthorized'],
      [403, 'unauthorized'],
      [429, 'rate_limited'],
      [500, 'failure'],
      [503, 'failure'],
    ];
    for (const [status, verdict] of cases) it(`${status} → ${verdict}`, () => expect(classifyUpstream(status)).to.equal(verdict));
  });

  describe(parseRetryAfterMs.name, () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    const cases: Array<[value: string | undefined, ms: number]> = [
      ['7', 7_000],
      ['0', 0],
      ['1.5', 1_500],
      [' 20 ', 20_000],
      ['Wed, 01 May 2024 12:00:30 GMT', 30_000],
      ['Wed, 01 May 2024 11:00:00 GMT', 0],
      [undefined, 30_000],
      ['', 30_000],
      ['soon', 30_000],
      ['999999', 3_600_000],
    ];
    for (const [value, ms] of cases) it(`${JSON.stringify(value)} → ${ms} ms`, () => expect(parseRetryAfterMs(value, now)).to.equal(ms));
  });
});
