import { expect } from 'chai';
import { nextStatusForQuota } from '../../src/domain/keys.service.js';
import { planQuotaEvent, RESET_GRACE_MS, type QuotaState } from '../../src/domain/provider-events.service.js';
import { spendOps } from '../../src/domain/sync/sync.service.js';
import { ConflictError } from '../../src/lib/errors.js';

const T = Date.parse('2026-03-01T12:00:00Z');
const at = (offsetMs = 0) => new Date(T + offsetMs).toISOString();

describe('quota lifecycle (pure rules)', () => {
  describe(planQuotaEvent.name, () => {
    const active: QuotaState = { status: 'active', quota_limit: 1_000, quota_used: 200 };
    const cases: Array<[string, QuotaState | undefined, Parameters<typeof planQuotaEvent>[1], number, string, unknown]> = [
      ['exhausts an active key at its limit', active, undefined, 1_000, at(), { kind: 'record', quota_used: 1_000, exhaust: true, crossed: true }],
      ['records spend below the limit', active, undefined, 600, at(), { kind: 'record', quota_used: 600, exhaust: false, crossed: false }],
      ['never lowers quota_used', { ...active, quota_used: 900 }, undefined, 300, at(), { kind: 'skip', reason: 'already recorded' }],
      ['an unlimited key only records', { ...active, quota_limit: -1 }, undefined, 5_000, at(), { kind: 'record', quota_used: 5_000, exhaust: false, crossed: false }],
      ['a disabled key only records', { ...active, status: 'disabled' }, undefined, 5_000, at(), { kind: 'record', quota_used: 5_000, exhaust: false, crossed: true }],
      ['an exhausted key replayed is a no-op', { ...active, status: 'exhausted', quota_used: 1_000 }, undefined, 1_000, at(), { kind: 'skip', reason: 'already recorded' }],
      ['a master (no status) records and reports the crossing', { quota_limit: 500, quota_used: 0 }, undefined, 700, at(), { kind: 'record', quota_used: 700, exhaust: false, crossed: true }],
      ['a master already over does not cross again', { quota_limit: 500, quota_used: 700 }, undefined, 800, at(), { kind: 'record', quota_used: 800, exhaust: false, crossed: false }],
      ['unknown subject', undefined, undefined, 1, at(), { kind: 'skip', reason: 'unknown key or master' }],
      ['a pending reset makes every event stale', active, { pending: true, appliedAt: null }, 2_000, at(), { kind: 'skip', reason: 'stale: a quota reset is not applied yet' }],
      ['an event within the grace after a reset is stale', active, { pending: false, appliedAt: new Date(T) }, 2_000, at(RESET_GRACE_MS - 1), { kind: 'skip', reason: 'stale: observed before the quota was reset' }],
      ['an event after the grace counts', active, { pending: false, appliedAt: new Date(T) }, 2_000, at(RESET_GRACE_MS), { kind: 'record', quota_used: 2_000, exhaust: true, crossed: true }],
    ];
    for (const [name, state, reset, spent, when, expected] of cases) {
      it(name, () => expect(planQuotaEvent(state, reset, { spent_micros: spent, at: when })).to.deep.equal(expected));
    }
  });

  describe(nextStatusForQuota.name, () => {
    const exhausted = { status: 'exhausted' as const, quota_limit: 1_000, quota_used: 1_200 };
    it('raising the limit above the spend re-activates', () => expect(nextStatusForQuota(exhausted, { quota_limit: 1_201 })).to.equal('active'));
    it('an unlimited quota re-activates', () => expect(nextStatusForQuota(exhausted, { quota_limit: -1 })).to.equal('active'));
    it('a limit still at or below the spend leaves it exhausted', () => expect(nextStatusForQuota(exhausted, { quota_limit: 1_200 })).to.equal(undefined));
    it('an explicit status wins when allowed', () => expect(nextStatusForQuota(exhausted, { quota_limit: 5_000, status: 'disabled' })).to.equal(undefined));
    it('active without room is a conflict naming body.status', () => {
      expect(() => nextStatusForQuota(exhausted, { status: 'active' }))
        .to.throw(ConflictError)
        .with.property('details')
        .that.deep.equals([{ field: 'body.status', message: 'quota exhausted' }]);
    });
    it('leaves other statuses alone', () => expect(nextStatusForQuota({ ...exhausted, status: 'active' }, { quota_limit: 5 })).to.equal(undefined));
  });

  describe(spendOps.name, () => {
    it('raises to quota_used, never creates a zero counter, overwrites on reset, deletes with the record', () => {
      expect(spendOps('c', 42, false)).to.deep.equal([{ t: 'floor', k: 'c', v: '42' }]);
      expect(spendOps('c', 0, false)).to.deep.equal([]);
      expect(spendOps('c', 0, true)).to.deep.equal([{ t: 'set', k: 'c', v: '0' }]);
      expect(spendOps('c', undefined, false)).to.deep.equal([{ t: 'del', k: 'c' }]);
    });
  });
});
