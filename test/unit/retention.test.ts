import { expect } from 'chai';
import { partitionWindow, retentionCutoff, startOfUtcDay } from '../../src/domain/retention.js';

describe('retention', () => {
  describe(retentionCutoff.name, () => {
    const cases: Array<{ name: string; now: string; days: number; cutoff: string }> = [
      { name: 'mid-day keeps today plus N whole days', now: '2024-03-31T15:00:00.000Z', days: 30, cutoff: '2024-03-01T00:00:00.000Z' },
      { name: 'exactly midnight', now: '2024-03-31T00:00:00.000Z', days: 30, cutoff: '2024-03-01T00:00:00.000Z' },
      { name: 'one millisecond before midnight', now: '2024-03-31T23:59:59.999Z', days: 1, cutoff: '2024-03-30T00:00:00.000Z' },
      { name: 'across a leap day', now: '2024-03-01T08:00:00.000Z', days: 1, cutoff: '2024-02-29T00:00:00.000Z' },
      { name: 'across a year boundary', now: '2025-01-03T12:00:00.000Z', days: 7, cutoff: '2024-12-27T00:00:00.000Z' },
      { name: 'a long window', now: '2024-06-15T06:30:00.000Z', days: 365, cutoff: '2023-06-16T00:00:00.000Z' },
      // The instant is what counts, not the host's local time zone.
      { name: 'offset input is read as UTC', now: '2024-04-01T01:00:00.000+02:00', days: 1, cutoff: '2024-03-30T00:00:00.000Z' },
    ];
    for (const c of cases) {
      it(`${c.name}: ${c.now} − ${c.days} d → ${c.cutoff}`, () => {
        expect(retentionCutoff(new Date(c.now), c.days).toISOString()).to.equal(c.cutoff);
      });
    }

    for (const bad of [0, -1, 1.5, Number.NaN]) {
      it(`refuses retentionDays = ${bad}`, () => {
        expect(() => retentionCutoff(new Date('2024-01-01T00:00:00Z'), bad)).to.throw(RangeError, /retentionDays/);
      });
    }
  });

  describe(partitionWindow.name, () => {
    const cases: Array<{ now: string; daysAhead: number; from: string; days: number }> = [
      { now: '2024-03-31T15:00:00.000Z', daysAhead: 7, from: '2024-03-31T00:00:00.000Z', days: 8 },
      { now: '2024-12-31T23:59:59.999Z', daysAhead: 0, from: '2024-12-31T00:00:00.000Z', days: 1 },
    ];
    for (const c of cases) {
      it(`${c.now} + ${c.daysAhead} days ahead → ${c.days} partitions from ${c.from}`, () => {
        const sut = partitionWindow(new Date(c.now), c.daysAhead);
        expect({ from: sut.from.toISOString(), days: sut.days }).to.deep.equal({ from: c.from, days: c.days });
      });
    }

    it('refuses a negative daysAhead', () => {
      expect(() => partitionWindow(new Date(), -1)).to.throw(RangeError, /daysAhead/);
    });
  });

  it('startOfUtcDay truncates to midnight UTC', () => {
    expect(startOfUtcDay(new Date('2024-02-29T23:00:00-05:00')).toISOString()).to.equal('2024-03-01T00:00:00.000Z');
  });
});
