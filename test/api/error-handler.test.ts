import { Writable } from 'node:stream';
import { expect } from 'chai';
import { CheckViolationError, DataError, ForeignKeyViolationError, NotNullViolationError, UniqueViolationError } from 'objection';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../../src/api/middleware/body-parser.js';
import { mapError, STATUS_BY_CODE } from '../../src/api/middleware/error-handler.js';
import { parseAuthorization } from '../../src/api/middleware/admin-auth.js';
import { defineRoute } from '../../src/api/route.js';
import { AppError, ConflictError, NotFoundError, ValidationError, type AppErrorCode } from '../../src/lib/errors.js';
import { createLogger } from '../../src/lib/logger.js';
import { ADMIN_TOKEN, bearer, startTestApi } from './helpers.js';

type DbErrorClass = new (args: { nativeError: Error; client: string }) => Error;
const dbError = (cls: unknown, text: string) =>
  new (cls as DbErrorClass)({ nativeError: new Error(text), client: 'postgres' });

describe('mapError', function () {
  it('maps every AppError code to its status', function () {
    const table: Array<[AppErrorCode, number]> = [
      ['validation_failed', 400],
      ['invalid_json', 400],
      ['payload_too_large', 413],
      ['unsupported_media_type', 415],
      ['unauthorized', 401],
      ['forbidden', 403],
      ['not_found', 404],
      ['route_not_found', 404],
      ['method_not_allowed', 405],
      ['conflict', 409],
      ['invalid_transition', 409],
      ['rate_limited', 429],
      ['request_timeout', 408],
      ['service_unavailable', 503],
      ['not_oauth', 400],
      ['invalid_credentials', 401],
      ['cannot_modify_self', 409],
      ['last_admin', 409],
      ['internal_error', 500],
    ];
    expect(Object.keys(STATUS_BY_CODE)).to.have.members(table.map(([code]) => code));
    for (const [code, status] of table) {
      const mapped = mapError(new AppError(code, `msg ${code}`));
      expect(mapped.status, code).to.equal(status);
      expect(mapped.body.error.code).to.equal(code);
    }
  });

  it('keeps field details of client errors', function () {
    const mapped = mapError(new ValidationError('bad', [{ field: 'body.name', message: 'Required' }]));
    expect(mapped.body).to.deep.equal({
      error: { code: 'validation_failed', message: 'bad', details: [{ field: 'body.name', message: 'Required' }] },
    });
    expect(mapError(new ConflictError('taken')).body.error).to.not.have.property('details');
    expect(mapError(new NotFoundError('Master', 7)).body.error.message).to.equal('Master 7 not found');
  });

  it('maps objection constraint errors with generic messages only', function () {
    const secret = 'Key (name)=(hunter2) already exists';
    const table: Array<[unknown, number, string]> = [
      [UniqueViolationError, 409, 'conflict'],
      [ForeignKeyViolationError, 409, 'conflict'],
      [NotNullViolationError, 400, 'validation_failed'],
      [CheckViolationError, 400, 'validation_failed'],
      [DataError, 400, 'validation_failed'],
    ];
    for (const [cls, status, code] of table) {
      const mapped = mapError(dbError(cls, secret));
      expect(mapped.status).to.equal(status);
      expect(mapped.body.error.code).to.equal(code);
      expect(JSON.stringify(mapped.body)).to.not.contain('hunter2');
    }
  });

  it('maps unreachable dependencies to 503 and anything else to a generic 500', function () {
    const unavailable = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' }),
      new Error('Connection is closed.'),
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], ''),
      new Error('wrapped', { cause: Object.assign(new Error('x'), { code: '57P01' }) }),
    ];
    for (const err of unavailable) expect(mapError(err).status, String(err)).to.equal(503);
    const internal = [new Error('boom'), new TypeError('x is undefined'), 'a string', undefined, { status: 500 }];
    for (const err of internal) {
      expect(mapError(err)).to.deep.include({ status: 500, body: { error: { code: 'internal_error', message: 'Internal server error' } } });
    }
  });

  it('honours exposed http-errors (ctx.throw) but not unexposed ones', function () {
    expect(mapError(Object.assign(new Error('Nope'), { status: 403, expose: true })).body.error).to.deep.equal({ code: 'forbidden', message: 'Nope' });
    expect(mapError(Object.assign(new Error('db text'), { status: 400, expose: false })).status).to.equal(500);
  });
});

describe('jsonDepthExceeds', function () {
  it('counts nesting, not brackets inside strings', function () {
    expect(jsonDepthExceeds('[[[]]]', 3)).to.equal(false);
    expect(jsonDepthExceeds('[[[[]]]]', 3)).to.equal(true);
    expect(jsonDepthExceeds(JSON.stringify({ a: '[[[[[[{{{{', b: '\\"[[[[' }), 2)).to.equal(false);
    expect(jsonDepthExceeds(`${'{"a":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}`, MAX_JSON_DEPTH)).to.equal(false);
    expect(jsonDepthExceeds(`${'['.repeat(MAX_JSON_DEPTH + 1)}`, MAX_JSON_DEPTH)).to.equal(true);
  });
});

describe('parseAuthorization', function () {
  it('reads Bearer and Basic (any user, token as password)', function () {
    expect(parseAuthorization('Bearer abc')).to.deep.equal({ scheme: 'bearer', token: 'abc' });
    expect(parseAuthorization('bearer abc')).to.deep.equal({ scheme: 'bearer', token: 'abc' });
    const basic = `Basic ${Buffer.from('me:pa:ss').toString('base64')}`;
    expect(parseAuthorization(basic)).to.deep.equal({ scheme: 'basic', token: 'pa:ss' });
    for (const bad of ['', 'Bearer', 'Token abc', `Basic ${Buffer.from('nopassword').toString('base64')}`, `Basic ${Buffer.from('u:').toString('base64')}`]) {
      expect(parseAuthorization(bad), bad).to.equal(undefined);
    }
  });
});

describe('error logging', function () {
  it('logs the real error of a 500 with the request id, and no secrets', async function () {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger({ level: 'debug', destination });
    const api = await startTestApi({
      queueName: 'api-error-log',
      logger,
      app: {
        extraRoutes: [
          defineRoute({
            method: 'get',
            path: '/test/crash',
            summary: 'crash',
            tags: ['test'],
            auth: 'admin',
            responses: { 200: { description: 'never' } },
            handler: () => {
              throw new Error('the real cause');
            },
          }),
        ],
      },
    });
    try {
      const res = await fetch(`${api.url}/test/crash?key=sk-should-not-be-logged-123456`, {
        headers: { ...bearer(ADMIN_TOKEN), 'X-Request-ID': 'log-test-1' },
      });
      expect(res.status).to.equal(500);
      await res.arrayBuffer();
    } finally {
      await api.close();
    }
    const records = lines.map((l) => JSON.parse(l) as { level: number; requestId?: string; msg: string; err?: { message: string }; status?: number });
    const failure = records.find((r) => r.msg === 'request failed');
    expect(failure, 'error line').to.not.equal(undefined);
    expect(failure!.requestId).to.equal('log-test-1');
    expect(failure!.err!.message).to.equal('the real cause');
    const access = records.find((r) => r.msg === 'request' && r.requestId === 'log-test-1');
    expect(access).to.deep.include({ status: 500 });
    const all = lines.join('\n');
    expect(all).to.not.contain(ADMIN_TOKEN);
    expect(all).to.not.contain('sk-should-not-be-logged');
  });
});
