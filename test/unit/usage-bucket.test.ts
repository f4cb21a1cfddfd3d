import { expect } from 'chai';
import { bucketKey, hourStart, statusClass, usageBucket, type BucketInput, type StatusClass } from '../../src/domain/request-logs.service.js';

describe('usage_hourly bucketing', () => {
  describe(statusClass.name, () => {
    const cases: Array<[number | null | undefined, StatusClass]> = [
      [200, '2xx'],
      [201, '2xx'],
      [299, '2xx'],
      [301, '3xx'],
      [304, '3xx'],
      [400, '4xx'],
      [401, '4xx'],
      [429, '4xx'],
      [499, '4xx'],
      [500, '5xx'],
      [502, '5xx'],
      [599, '5xx'],
      [0, 'error'],
      [100, 'error'],
      [199, 'error'],
      [600, 'error'],
      [999, 'error'],
      [-1, 'error'],
      [200.5, 'error'],
      [Number.NaN, 'error'],
      [null, 'error'],
      [undefined, 'error'],
    ];
    for (const [code, expected] of cases) {
      it(`${String(code)} → ${expected}`, () => expect(statusClass(code)).to.equal(expected));
    }
  });

  describe(hourStart.name, () => {
    const cases: Array<[string | Date, string]> = [
      ['2026-11-22T10:00:00.000Z', '2026-11-22T10:00:00.000Z'],
      ['2026-11-22T10:59:59.999Z', '2026-11-22T10:00:00.000Z'],
      ['2026-11-22T11:00:00.000Z', '2026-11-22T11:00:00.000Z'],
      // Offsets are converted to UTC first: 10:30 at +05:30 is 05:00 UTC.
      ['2026-11-22T10:30:00+05:30', '2026-11-22T05:00:00.000Z'],
      // A half-hour offset puts the instant in the previous UTC hour.
      ['2026-11-22T00:15:00+00:30', '2026-11-21T23:00:00.000Z'],
      ['2026-11-22T23:59:59-01:00', '2026-11-23T00:00:00.000Z'],
      // Microseconds (PostgreSQL-style text) are fine.
      ['2026-11-22T10:15:00.123456Z', '2026-11-22T10:00:00.000Z'],
      [new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 1)), '2026-01-01T00:00:00.000Z'],
      ['1969-12-31T23:30:00Z', '1969-12-31T23:00:00.000Z'],
    ];
    for (const [input, expected] of cases) {
      it(`${String(input instanceof Date ? input.toISOString() : input)} → ${expected}`, () => expect(hourStart(input)).to.equal(expected));
    }
    it('refuses an unparseable instant', () => expect(() => hourStart('yesterday-ish')).to.throw(RangeError));
  });

  describe(usageBucket.name, () => {
    const base: BucketInput = { created_at: '2026-11-22T10:42:00Z', master_id: 1, key_id: 2, model: 'gpt-4o', api_key_id: 3, status_code: 200 };

    it('keys a request by UTC hour, master, key, model, upstream key and status class', () => {
      expect(usageBucket(base)).to.deep.equal({
        hour: '2026-11-22T10:00:00.000Z',
        master_id: 1,
        key_id: 2,
        model: 'gpt-4o',
        api_key_id: 3,
        status_class: '2xx',
      });
    });

    it('keeps NULL parts (a request refused before auth still has a bucket)', () => {
      expect(usageBucket({ ...base, master_id: null, key_id: null, model: null, api_key_id: null, status_code: 401 })).to.deep.equal({
        hour: '2026-11-22T10:00:00.000Z',
        master_id: null,
        key_id: null,
        model: null,
        api_key_id: null,
        status_class: '4xx',
      });
    });

    it('puts requests of the same hour and class together and everything else apart', () => {
      const key = (overrides: Partial<BucketInput>) => bucketKey(usageBucket({ ...base, ...overrides }));
      expect(key({ created_at: '2026-11-22T10:00:00Z', status_code: 201 })).to.equal(key({}));
      expect(key({ created_at: '2026-11-22T11:00:00Z' })).not.to.equal(key({}));
      expect(key({ status_code: 500 })).not.to.equal(key({}));
      expect(key({ model: 'gpt-4o-mini' })).not.to.equal(key({}));
      expect(key({ api_key_id: 4 })).not.to.equal(key({}));
      expect(key({ key_id: null })).not.to.equal(key({}));
      // NULL is not the string "null".
      expect(key({ model: null })).not.to.equal(key({ model: 'null' }));
    });
  });
});
