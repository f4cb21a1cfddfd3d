import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger, redactString } from '../../src/lib/logger.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('logger redaction', () => {
  const cases: Array<[string, string]> = [
    ['child key ezk_AbCdEfGh12345678 used', 'child key [REDACTED] used'],
    ['Authorization: Bearer sk-proj-abcdefghijklmnop1234', 'Authorization: Bearer [REDACTED]'],
    ['upstream sk-ant-api03-abcdefghijklmnopqrstu', 'upstream [REDACTED]'],
    ['google AIzaSyA1234567890abcdefghijklmnop', 'google [REDACTED]'],
    ['GET /v1beta/models?key=secretvalue123&alt=sse', 'GET /v1beta/models?key=[REDACTED]&alt=sse'],
    ['postgres://ez:hunter2@db:5432/ez', 'postgres://ez:[REDACTED]@db:5432/ez'],
    ['redis://:pw123@cache:6379/0', 'redis://:[REDACTED]@cache:6379/0'],
    ['Bearer ezadm_0123456789abcdef', 'Bearer [REDACTED]'],
    ['nothing secret here', 'nothing secret here'],
  ];
  for (const [input, expected] of cases) {
    it(`redacts "${input}"`, () => {
      expect(redactString(input)).to.equal(expected);
    });
  }

  it('removes secrets by path and by pattern from log lines', () => {
    const { lines, logger } = capture();
    logger.info(
      { req: { headers: { authorization: 'Bearer whatever-token', 'x-api-key': 'k' } }, api_key: 'sk-live', note: 'key ezm_ZZZZZZZZZZZZ' },
      'called with ezk_QQQQQQQQQQQQQQQQ',
    );
    const out = lines.join('');
    expect(out).to.not.include('whatever-token');
    expect(out).to.not.include('sk-live');
    expect(out).to.not.include('ezm_ZZZZZZZZZZZZ');
    expect(out).to.not.include('ezk_QQQQQQQQQQQQQQQQ');
    expect(out).to.include('[REDACTED]');
  });

  it('redacts secrets inside logged errors', () => {
    const { lines, logger } = capture();
    logger.error({ err: new Error('upstream refused sk-abcdefghijklmnopqrstuvwx') }, 'failed');
    expect(lines.join('')).to.not.include('sk-abcdefghijklmnopqrstuvwx');
  });
});
