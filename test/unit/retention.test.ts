import { expect } from 'chai';
import { deleteBatches, partitionWindow, planTrim, retentionCutoff, startOfUtcDay, utcDayOf, type PartitionSize, type TrimPlan } from '../../src/domain/retention.js';

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

  describe(planTrim.name, () => {
    /** Partitions p1..pN for 2024-03-01.. with the given rows; `~` before a number marks an estimate. */
    const parts = (...rows: Array<number | `~${number}`>): PartitionSize[] =>
      rows.map((r, i) => ({
        name: `p${i + 1}`,
        day: `2024-03-${String(i + 1).padStart(2, '0')}`,
        rows: typeof r === 'number' ? r : Number(r.slice(1)),
        exact: typeof r === 'number',
      }));
    const limits = { otherRows: 0, today: '2024-03-10', maxDeleteRows: 1_000_000 };
    const cases: Array<{ name: string; partitions: PartitionSize[]; maxRecords: number; extra?: Partial<typeof limits>; plan: TrimPlan }> = [
      {
        name: 'under the cap on estimates alone: nothing is counted',
        partitions: parts('~100', '~100', '~100'),
        maxRecords: 300,
        plan: { kind: 'within-cap', total: 300, excess: 0 },
      },
      {
        name: 'over the cap: count only the oldest partitions the excess reaches',
        partitions: parts('~100', '~100', '~100', '~100'),
        maxRecords: 250,
        plan: { kind: 'count', total: 400, excess: 150, names: ['p1', 'p2'] },
      },
      {
        name: 'counted partitions are not asked for again',
        partitions: parts(100, '~100', '~100', '~100'),
        maxRecords: 250,
        plan: { kind: 'count', total: 400, excess: 150, names: ['p2'] },
      },
      {
        name: 'a partition wholly inside the excess is dropped, the next trimmed row by row',
        partitions: parts(100, 100, '~100', '~100'),
        maxRecords: 250,
        plan: { kind: 'trim', total: 400, excess: 150, deferred: 0, steps: [{ kind: 'drop', name: 'p1', day: '2024-03-01', rows: 100 }, { kind: 'delete', name: 'p2', day: '2024-03-02', rows: 50 }] },
      },
      {
        name: 'an excess that ends exactly at a partition boundary drops it',
        partitions: parts(100, 100, '~100'),
        maxRecords: 100,
        plan: { kind: 'trim', total: 300, excess: 200, deferred: 0, steps: [{ kind: 'drop', name: 'p1', day: '2024-03-01', rows: 100 }, { kind: 'drop', name: 'p2', day: '2024-03-02', rows: 100 }] },
      },
      {
        name: 'empty partitions are skipped',
        partitions: parts(0, 0, 50, '~100'),
        maxRecords: 100,
        plan: { kind: 'trim', total: 150, excess: 50, deferred: 0, steps: [{ kind: 'drop', name: 'p3', day: '2024-03-03', rows: 50 }] },
      },
      {
        name: "today's partition is never dropped, only trimmed row by row",
        partitions: parts(10, 10),
        maxRecords: 5,
        extra: { today: '2024-03-02' },
        plan: { kind: 'trim', total: 20, excess: 15, deferred: 0, steps: [{ kind: 'drop', name: 'p1', day: '2024-03-01', rows: 10 }, { kind: 'delete', name: 'p2', day: '2024-03-02', rows: 5 }] },
      },
      {
        name: 'the delete budget stops the plan part-way; the rest is deferred',
        partitions: parts(100, 100, 100),
        maxRecords: 20,
        extra: { maxDeleteRows: 30 },
        plan: {
          kind: 'trim',
          total: 300,
          excess: 280,
          deferred: 50,
          steps: [
            { kind: 'drop', name: 'p1', day: '2024-03-01', rows: 100 },
            { kind: 'drop', name: 'p2', day: '2024-03-02', rows: 100 },
            { kind: 'delete', name: 'p3', day: '2024-03-03', rows: 30 },
          ],
        },
      },
      {
        name: 'a zero budget still drops whole partitions',
        partitions: parts(100, 100),
        maxRecords: 150,
        extra: { maxDeleteRows: 0 },
        plan: { kind: 'trim', total: 200, excess: 50, deferred: 50, steps: [] },
      },
      {
        name: 'default-partition rows count towards the total but are never trimmed here',
        partitions: parts(10),
        maxRecords: 5,
        extra: { otherRows: 20 },
        plan: { kind: 'trim', total: 30, excess: 25, deferred: 15, steps: [{ kind: 'drop', name: 'p1', day: '2024-03-01', rows: 10 }] },
      },
      {
        name: 'an unanalyzed partition estimated at 0 still gets counted when the excess reaches past it',
        partitions: parts('~0', '~500'),
        maxRecords: 100,
        plan: { kind: 'count', total: 500, excess: 400, names: ['p1', 'p2'] },
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        expect(planTrim(c.partitions, { ...limits, ...c.extra, maxRecords: c.maxRecords })).to.deep.equal(c.plan);
      });
    }

    it('refuses partitions that are not oldest first', () => {
      const [a, b] = parts(1, 1);
      expect(() => planTrim([b!, a!], { ...limits, maxRecords: 1 })).to.throw(RangeError, /oldest first/);
    });

    it('refuses a cap below 1', () => {
      expect(() => planTrim(parts(1), { ...limits, maxRecords: 0 })).to.throw(RangeError, /maxRecords/);
    });
  });

  describe(deleteBatches.name, () => {
    const cases: Array<[number, number, number[]]> = [
      [0, 5_000, []],
      [4_999, 5_000, [4_999]],
      [5_000, 5_000, [5_000]],
      [12_001, 5_000, [5_000, 5_000, 2_001]],
    ];
    for (const [rows, size, batches] of cases) {
      it(`${rows} rows in batches of ${size} → [${batches.join(', ')}]`, () => {
        expect(deleteBatches(rows, size)).to.deep.equal(batches);
      });
    }
  });

  it('utcDayOf reads the instant in UTC', () => {
    expect(utcDayOf(new Date('2024-03-01T01:00:00+02:00'))).to.equal('2024-02-29');
  });
});
