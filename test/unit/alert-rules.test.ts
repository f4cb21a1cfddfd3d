import { expect } from 'chai';
import {
  errorSpikeRule,
  evaluateRules,
  fingerprintOf,
  providerDownRule,
  quotaRule,
  rateLimitRule,
  severityAt,
  trafficSpikeRule,
  type DetectorFigures,
  type Finding,
} from '../../src/domain/alerts/rules.js';
import { DEFAULT_THRESHOLDS, mergeThresholds, resolveThresholds } from '../../src/domain/alerts/thresholds.js';
import { transitionProblem } from '../../src/domain/alerts/alerts.service.js';

const t = DEFAULT_THRESHOLDS;
const sev = (findings: Finding[]) => findings.map((f) => f.severity);

describe('alert rules', () => {
  describe('severityAt', () => {
    const cases: Array<[value: number, threshold: number, criticalAt: number | undefined, expected: string | null]> = [
      [9, 10, undefined, null],
      [10, 10, undefined, 'warning'],
      [19, 10, undefined, 'warning'],
      [20, 10, undefined, 'critical'],
      [0.89, 0.9, 1, null],
      [0.9, 0.9, 1, 'warning'],
      [1, 0.9, 1, 'critical'],
      [1_000, 0, undefined, null], // 0 = off
      [Number.NaN, 10, undefined, null],
    ];
    for (const [value, threshold, criticalAt, expected] of cases) {
      it(`${value} against ${threshold}${criticalAt === undefined ? '' : ` (critical at ${criticalAt})`} → ${String(expected)}`, () => {
        expect(severityAt(value, threshold, criticalAt)).to.equal(expected);
      });
    }
  });

  describe('rate limiting (refusals per master in the last minute)', () => {
    const cases: Array<[limited: number, expected: string[]]> = [
      [0, []],
      [9, []],
      [10, ['warning']],
      [19, ['warning']],
      [20, ['critical']],
      [500, ['critical']],
    ];
    for (const [limited, expected] of cases) {
      it(`${limited} refusals with threshold 10 → ${expected.join() || 'nothing'}`, () => {
        const findings = rateLimitRule([{ master_id: 7, requests: 100, tokens: 0, limited }], t);
        expect(sev(findings)).to.deep.equal(expected);
        for (const f of findings) {
          expect(f).to.include({ type: 'rate_limit', fingerprint: 'rate_limit:master:7', related_type: 'master', related_id: '7' });
          expect(f.metadata).to.include({ value: limited, threshold: 10, critical_at: 20, window_seconds: 60 });
        }
      });
    }
  });

  describe('error spike (≥ 10 % with at least 20 requests)', () => {
    const cases: Array<[requests: number, errors: number, expected: string[], why: string]> = [
      [19, 19, [], 'below the minimum sample'],
      [20, 1, [], 'below the rate'],
      [20, 2, ['warning'], 'exactly 10 %'],
      [100, 19, ['warning'], 'just below 2×'],
      [100, 20, ['critical'], 'exactly 2× (20 %)'],
      [20, 20, ['critical'], 'everything failing'],
      [0, 0, [], 'no traffic'],
    ];
    for (const [requests, errors, expected, why] of cases) {
      it(`${errors}/${requests} → ${expected.join() || 'nothing'} (${why})`, () => {
        const byKey = errorSpikeRule({ byKey: [{ id: '5', requests, errors }], byModel: [] }, t);
        const byModel = errorSpikeRule({ byKey: [], byModel: [{ id: 'gpt-4o', requests, errors }] }, t);
        expect(sev(byKey)).to.deep.equal(expected);
        expect(sev(byModel)).to.deep.equal(expected);
        if (expected.length) {
          expect(byKey[0]).to.include({ fingerprint: 'error_spike:key:5', related_type: 'key', related_id: '5' });
          expect(byModel[0]).to.include({ fingerprint: 'error_spike:model:gpt-4o', related_type: 'model', related_id: 'gpt-4o' });
          expect(byKey[0]!.metadata).to.include({ threshold: 0.1, critical_at: 0.2, window_seconds: 300, requests, errors, min_requests: 20 });
        }
      });
    }
    it('honours changed thresholds (rate, sample, window)', () => {
      const custom = { ...t, error_rate: 0.5, error_min_requests: 2, error_window_minutes: 10 };
      expect(sev(errorSpikeRule({ byKey: [{ id: '1', requests: 2, errors: 1 }], byModel: [] }, custom))).to.deep.equal(['warning']);
      expect(sev(errorSpikeRule({ byKey: [{ id: '1', requests: 2, errors: 2 }], byModel: [] }, custom))).to.deep.equal(['critical']);
      expect(errorSpikeRule({ byKey: [{ id: '1', requests: 2, errors: 2 }], byModel: [] }, custom)[0]!.metadata.window_seconds).to.equal(600);
    });
  });

  describe('quota (warning at 90 %, critical at 100 %)', () => {
    const cases: Array<[used: number, limit: number, expected: string[]]> = [
      [0, 1_000_000, []],
      [899_999, 1_000_000, []],
      [900_000, 1_000_000, ['warning']],
      [999_999, 1_000_000, ['warning']],
      [1_000_000, 1_000_000, ['critical']],
      [1_500_000, 1_000_000, ['critical']],
      [5, 0, []], // no quota
    ];
    for (const [used, limit, expected] of cases) {
      it(`${used}/${limit} µ$ → ${expected.join() || 'nothing'}`, () => {
        const keys = quotaRule([{ subject: 'key', id: 3, used, limit }], t);
        const masters = quotaRule([{ subject: 'master', id: 4, used, limit }], t);
        expect(sev(keys)).to.deep.equal(expected);
        expect(sev(masters)).to.deep.equal(expected);
        if (expected.length) {
          expect(keys[0]).to.include({ type: 'quota_exceeded', fingerprint: 'quota_exceeded:key:3', related_type: 'key', related_id: '3' });
          expect(masters[0]).to.include({ fingerprint: 'quota_exceeded:master:4', related_type: 'master' });
          expect(keys[0]!.metadata).to.include({ threshold: 0.9, critical_at: 1, used_micros: used, limit_micros: limit });
        }
      });
    }
  });

  describe('provider down (≥ 50 % failures with at least 10 requests)', () => {
    const cases: Array<[requests: number, failures: number, expected: string[]]> = [
      [9, 9, []],
      [10, 4, []],
      [10, 5, ['warning']],
      [10, 9, ['warning']],
      [10, 10, ['critical']], // 2× 50 % caps at 100 %
    ];
    for (const [requests, failures, expected] of cases) {
      it(`${failures}/${requests} → ${expected.join() || 'nothing'}`, () => {
        const findings = providerDownRule({ byApiKey: [{ id: '11', requests, errors: failures }], byProviderGroup: [{ id: '2', requests, errors: failures }] }, t);
        expect(sev(findings)).to.deep.equal([...expected, ...expected]);
        if (expected.length) {
          expect(findings.map((f) => f.fingerprint)).to.deep.equal(['provider_down:api_key:11', 'provider_down:provider_group:2']);
          expect(findings[0]!.metadata).to.include({ threshold: 0.5, critical_at: 1 });
        }
      });
    }
  });

  describe('traffic spike (warning at the threshold, critical at 2×)', () => {
    const quiet = { global: { requests: 0, tokens: 0 }, masterMinutes: [], masterDays: [] };
    const cases: Array<[label: string, figures: Pick<DetectorFigures, 'global' | 'masterMinutes' | 'masterDays'>, expected: Array<[string, string]>]> = [
      ['global QPS below 100', { ...quiet, global: { requests: 5_999, tokens: 0 } }, []],
      ['global QPS at 100', { ...quiet, global: { requests: 6_000, tokens: 0 } }, [['traffic_spike:global:qps', 'warning']]],
      ['global QPS at 200', { ...quiet, global: { requests: 12_000, tokens: 0 } }, [['traffic_spike:global:qps', 'critical']]],
      ['master RPM at 3000', { ...quiet, masterMinutes: [{ master_id: 9, requests: 3_000, tokens: 0, limited: 0 }] }, [['traffic_spike:master:9:rpm', 'warning']]],
      ['master RPM just below', { ...quiet, masterMinutes: [{ master_id: 9, requests: 2_999, tokens: 999_999, limited: 0 }] }, []],
      ['master TPM at 2×', { ...quiet, masterMinutes: [{ master_id: 9, requests: 1, tokens: 2_000_000, limited: 0 }] }, [['traffic_spike:master:9:tpm', 'critical']]],
      ['master RPD', { ...quiet, masterDays: [{ master_id: 4, requests: 500_000, tokens: 0 }] }, [['traffic_spike:master:4:rpd', 'warning']]],
      ['master TPD at 2×', { ...quiet, masterDays: [{ master_id: 4, requests: 0, tokens: 1_000_000_000 }] }, [['traffic_spike:master:4:tpd', 'critical']]],
    ];
    for (const [label, figures, expected] of cases) {
      it(label, () => {
        const findings = trafficSpikeRule(figures, t);
        expect(findings.map((f) => [f.fingerprint, f.severity])).to.deep.equal(expected);
      });
    }
    it('carries value, threshold and window in metadata', () => {
      const [qps] = trafficSpikeRule({ ...quiet, global: { requests: 9_000, tokens: 0 } }, t);
      expect(qps!.metadata).to.include({ value: 150, threshold: 100, critical_at: 200, window_seconds: 60, metric: 'qps' });
      const [rpd] = trafficSpikeRule({ ...quiet, masterDays: [{ master_id: 4, requests: 600_000, tokens: 0 }] }, t);
      expect(rpd!.metadata).to.include({ value: 600_000, threshold: 500_000, window_seconds: 86_400, metric: 'rpd' });
      expect(rpd).to.include({ related_type: 'master', related_id: '4' });
    });
    it('a threshold of 0 turns a check off', () => {
      expect(trafficSpikeRule({ ...quiet, global: { requests: 1e9, tokens: 0 } }, { ...t, global_qps: 0 })).to.deep.equal([]);
    });
  });

  it('fingerprints are deterministic per (rule, subject) and bounded', () => {
    expect(fingerprintOf('error_spike', 'model', 'm')).to.equal(fingerprintOf('error_spike', 'model', 'm'));
    expect(fingerprintOf('error_spike', 'model', 'm')).not.to.equal(fingerprintOf('error_spike', 'model', 'n'));
    const long = fingerprintOf('error_spike', 'model', 'x'.repeat(500));
    expect(long.length).to.be.at.most(200);
    expect(long).to.equal(fingerprintOf('error_spike', 'model', 'x'.repeat(500)));
  });

  it('evaluateRules runs every rule over one tick', () => {
    const figures: DetectorFigures = {
      global: { requests: 0, tokens: 0 },
      masterMinutes: [{ master_id: 1, requests: 10, tokens: 10, limited: 12 }],
      masterDays: [],
      errorsByKey: [{ id: '2', requests: 40, errors: 10 }],
      errorsByModel: [],
      failuresByApiKey: [{ id: '3', requests: 10, errors: 10 }],
      failuresByProviderGroup: [],
      quotas: [{ subject: 'key', id: 2, used: 95, limit: 100 }],
    };
    expect(evaluateRules(figures, t).map((f) => [f.fingerprint, f.severity])).to.deep.equal([
      ['rate_limit:master:1', 'warning'],
      ['error_spike:key:2', 'critical'],
      ['quota_exceeded:key:2', 'warning'],
      ['provider_down:api_key:3', 'critical'],
    ]);
  });
});

describe('alert thresholds', () => {
  it('fills defaults and ignores stored values that no longer validate', () => {
    expect(resolveThresholds(undefined)).to.deep.equal(DEFAULT_THRESHOLDS);
    expect(resolveThresholds({ error_rate: 0.2, error_min_requests: -3, unknown: 1 })).to.deep.equal({ ...DEFAULT_THRESHOLDS, error_rate: 0.2 });
  });
  it('merges a patch: set, reset with null, keep the rest', () => {
    expect(mergeThresholds({ error_rate: 0.2, master_rpm: 10 }, { master_rpm: null, global_qps: 5 })).to.deep.equal({ error_rate: 0.2, global_qps: 5 });
  });
});

describe('alert transitions', () => {
  const cases: Array<[action: 'acknowledge' | 'resolve' | 'dismiss', status: 'active' | 'acknowledged' | 'resolved' | 'dismissed', ok: boolean]> = [
    ['acknowledge', 'active', true],
    ['acknowledge', 'acknowledged', false],
    ['acknowledge', 'resolved', false],
    ['resolve', 'active', true],
    ['resolve', 'acknowledged', true],
    ['resolve', 'resolved', false],
    ['resolve', 'dismissed', false],
    ['dismiss', 'active', true],
    ['dismiss', 'acknowledged', true],
    ['dismiss', 'resolved', false],
  ];
  for (const [action, status, ok] of cases) {
    it(`${action} from ${status}: ${ok ? 'allowed' : 'refused'}`, () => {
      expect(transitionProblem(action, status) === null).to.equal(ok);
    });
  }
});
